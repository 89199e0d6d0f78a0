//! Avro's primitive encodings, as the `choreo.AssetEvent` layout uses them.

/// Why the direct reader or writer steps aside: the general path decides these bytes or values.
#[derive(Debug)]
pub struct Aside;

/// A varint byte holds 7 bits; the top bit says another byte follows.
const MORE: u8 = 0x80;
/// A varint of at most 64 bits takes at most ten bytes, the last at shift 63.
const LAST_SHIFT: u32 = 63;
/// A length or count in one byte is below `MORE` and even (zig-zag: not negative).
pub const NOT_ONE_BYTE_SIZE: u8 = 0x81;
/// Union branch indexes, zig-zag encoded: each fits one byte.
pub const NULL: u8 = 0;
pub const BRANCH_1: u8 = 2;
pub const BRANCH_2: u8 = 4;
pub const BRANCH_3: u8 = 6;
pub const BRANCH_4: u8 = 8;
/// A UUID's canonical text is 36 characters: the zig-zag byte of that length.
pub const UUID_LENGTH: u8 = 0x48;

/// Bytes being read, and where.
pub struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }

    /// The byte at the position, without moving.
    pub fn peek(&self) -> Result<u8, Aside> {
        self.data.get(self.pos).copied().ok_or(Aside)
    }

    pub fn byte(&mut self) -> Result<u8, Aside> {
        let byte = self.peek()?;
        self.pos += 1;
        Ok(byte)
    }

    pub fn take(&mut self, size: usize) -> Result<&'a [u8], Aside> {
        let end = self.pos.checked_add(size).ok_or(Aside)?;
        let taken = self.data.get(self.pos..end).ok_or(Aside)?;
        self.pos = end;
        Ok(taken)
    }

    /// A zig-zag varint. Beyond 64 bits (where fastavro keeps the low bits) it steps aside.
    pub fn long(&mut self) -> Result<i64, Aside> {
        let mut z: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.byte()?;
            if shift > LAST_SHIFT {
                return Err(Aside);
            }
            let bits = u64::from(byte & 0x7F);
            if shift == LAST_SHIFT && bits > 1 {
                return Err(Aside); // more than 64 bits
            }
            z |= bits << shift;
            if byte & MORE == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A length or count, refused when negative (fastavro reads "the rest").
    pub fn size(&mut self) -> Result<usize, Aside> {
        let byte = self.peek()?;
        if byte & NOT_ONE_BYTE_SIZE == 0 {
            self.pos += 1;
            return Ok(usize::from(byte >> 1));
        }
        usize::try_from(self.long()?).map_err(|_| Aside)
    }

    /// An Avro `string`, which must be UTF-8.
    pub fn text(&mut self) -> Result<&'a str, Aside> {
        let size = self.size()?;
        std::str::from_utf8(self.take(size)?).map_err(|_| Aside)
    }

    /// The item count of the next array or map block, skipping a negative count's byte size.
    pub fn block_count(&mut self) -> Result<u64, Aside> {
        let byte = self.peek()?;
        if byte & NOT_ONE_BYTE_SIZE == 0 {
            self.pos += 1;
            return Ok(u64::from(byte >> 1));
        }
        let count = self.long()?;
        if count < 0 {
            self.long()?; // the block's size in bytes, unused as in fastavro
        }
        Ok(count.unsigned_abs())
    }
}

/// Appends a zig-zag varint.
pub fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= u64::from(MORE) {
        out.push((z as u8 & 0x7F) | MORE);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends an Avro `string`.
pub fn write_text(out: &mut Vec<u8>, text: &[u8]) {
    write_long(out, text.len() as i64);
    out.extend_from_slice(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(n: i64) -> i64 {
        let mut out = Vec::new();
        write_long(&mut out, n);
        let mut cursor = Cursor::new(&out, 0);
        let back = cursor.long().unwrap();
        assert_eq!(cursor.pos, out.len());
        back
    }

    #[test]
    fn longs_round_trip_at_the_edges() {
        for n in [0, 1, -1, 63, -64, 64, -65, 8191, i64::MAX, i64::MIN] {
            assert_eq!(round_trip(n), n);
        }
    }

    #[test]
    fn zig_zag_matches_the_specification() {
        let mut out = Vec::new();
        for n in [0, -1, 1, -2, 2, 64] {
            write_long(&mut out, n);
        }
        assert_eq!(out, [0, 1, 2, 3, 4, 0x80, 0x01]);
    }

    #[test]
    fn a_varint_beyond_64_bits_steps_aside() {
        let too_long = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(Cursor::new(&too_long, 0).long().is_err());
        let eleven = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        assert!(Cursor::new(&eleven, 0).long().is_err());
    }

    #[test]
    fn reading_past_the_end_steps_aside() {
        assert!(Cursor::new(&[0x80], 0).long().is_err());
        assert!(Cursor::new(&[0x08, b'a'], 0).text().is_err());
    }
}
