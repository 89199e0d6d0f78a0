"""Tests of the Kafka adapter's logic with confluent-kafka's clients replaced at the edge."""
