//! A bounds-checked reader of the FlatBuffers wire format, enough to read a
//! `.tflite` file's tables without generated code and without `unsafe`.
//!
//! The format (<https://flatbuffers.dev/internals/>): the file starts with
//! a `u32` offset to the root table. A table starts with an `i32` whose
//! subtraction from the table's position gives its vtable; the vtable is
//! `u16` vtable length, `u16` table length, then one `u16` offset per field
//! (0: absent, the field takes its default). A scalar field lies at the
//! table's position plus its offset; a table, vector or string field holds
//! a `u32` offset from where it lies. A vector is a `u32` length followed by
//! its elements; a string, a vector of bytes.
//!
//! Every read checks its bounds and returns an error naming what it was
//! reading, so a truncated or corrupted file is refused, never a panic
//! (fuzzed by `fuzz/fuzz_targets/tflite_import.rs`). Errors are
//! [`Error::ImportMalformed`]..

use crate::Error;

/// Result of a read.
pub type Read<T> = Result<T, Error>;

fn bad<T>(what: &'static str, at: usize) -> Read<T> {
    Err(Error::ImportMalformed {
        what,
        at: at.min(u32::MAX as usize) as u32,
    })
}

fn bytes<'a>(buf: &'a [u8], at: usize, n: usize, what: &'static str) -> Read<&'a [u8]> {
    match at.checked_add(n).and_then(|end| buf.get(at..end)) {
        Some(b) => Ok(b),
        None => bad(what, at),
    }
}

fn u16_at(buf: &[u8], at: usize, what: &'static str) -> Read<u16> {
    let b = bytes(buf, at, 2, what)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(buf: &[u8], at: usize, what: &'static str) -> Read<u32> {
    let b = bytes(buf, at, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Follows the `u32` offset stored at `at`.
fn follow(buf: &[u8], at: usize, what: &'static str) -> Read<usize> {
    let off = u32_at(buf, at, what)? as usize;
    match at.checked_add(off) {
        Some(p) if p < buf.len() => Ok(p),
        _ => bad(what, at),
    }
}

/// A table of the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    at: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a buffer.
    pub fn root(buf: &'a [u8]) -> Read<Self> {
        let at = follow(buf, 0, "root table offset")?;
        Self::at(buf, at, "root table")
    }

    fn at(buf: &'a [u8], at: usize, what: &'static str) -> Read<Self> {
        let soffset = u32_at(buf, at, what)? as i32 as i64;
        let vtable = at as i64 - soffset;
        if vtable < 0 || vtable as usize >= buf.len() {
            return bad(what, at);
        }
        let vtable = vtable as usize;
        let vtable_len = u16_at(buf, vtable, what)? as usize;
        if vtable_len < 4 || vtable_len % 2 != 0 {
            return bad(what, vtable);
        }
        bytes(buf, vtable, vtable_len, what)?;
        Ok(Table {
            buf,
            at,
            vtable,
            vtable_len,
        })
    }

    /// Where field `id` (its order in the schema, from 0) lies, if present.
    fn field(&self, id: usize, what: &'static str) -> Read<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = u16_at(self.buf, self.vtable + slot, what)? as usize;
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(self.at + off))
    }

    fn scalar<const N: usize>(&self, id: usize, what: &'static str) -> Read<Option<[u8; N]>> {
        match self.field(id, what)? {
            None => Ok(None),
            Some(p) => {
                let b = bytes(self.buf, p, N, what)?;
                let mut out = [0u8; N];
                out.copy_from_slice(b);
                Ok(Some(out))
            }
        }
    }

    /// A `byte` field (default `default`).
    pub fn i8(&self, id: usize, default: i8, what: &'static str) -> Read<i8> {
        Ok(self.scalar::<1>(id, what)?.map_or(default, |b| b[0] as i8))
    }

    /// A `bool` field.
    pub fn bool(&self, id: usize, default: bool, what: &'static str) -> Read<bool> {
        Ok(self.scalar::<1>(id, what)?.map_or(default, |b| b[0] != 0))
    }

    /// A `ubyte` field.
    pub fn u8(&self, id: usize, default: u8, what: &'static str) -> Read<u8> {
        Ok(self.scalar::<1>(id, what)?.map_or(default, |b| b[0]))
    }

    /// An `int` field.
    pub fn i32(&self, id: usize, default: i32, what: &'static str) -> Read<i32> {
        Ok(self
            .scalar::<4>(id, what)?
            .map_or(default, i32::from_le_bytes))
    }

    /// A `float` field.
    pub fn f32(&self, id: usize, default: f32, what: &'static str) -> Read<f32> {
        Ok(self
            .scalar::<4>(id, what)?
            .map_or(default, f32::from_le_bytes))
    }

    /// A `uint` field.
    pub fn u32(&self, id: usize, default: u32, what: &'static str) -> Read<u32> {
        Ok(self
            .scalar::<4>(id, what)?
            .map_or(default, u32::from_le_bytes))
    }

    /// A table field.
    pub fn table(&self, id: usize, what: &'static str) -> Read<Option<Table<'a>>> {
        match self.field(id, what)? {
            None => Ok(None),
            Some(p) => Table::at(self.buf, follow(self.buf, p, what)?, what).map(Some),
        }
    }

    /// A vector field: its element bytes (`len × size` of them) and length;
    /// an absent vector is empty.
    fn vector(&self, id: usize, size: usize, what: &'static str) -> Read<(usize, usize)> {
        match self.field(id, what)? {
            None => Ok((0, 0)),
            Some(p) => {
                let v = follow(self.buf, p, what)?;
                let len = u32_at(self.buf, v, what)? as usize;
                let total = len.checked_mul(size).map_or_else(|| bad(what, v), Ok)?;
                bytes(self.buf, v + 4, total, what)?;
                Ok((v + 4, len))
            }
        }
    }

    /// The length of a vector field (0 when absent), without reading it.
    pub fn len_of(&self, id: usize, what: &'static str) -> Read<usize> {
        Ok(self.vector(id, 1, what)?.1)
    }

    /// A `[ubyte]` (or string) field's bytes.
    pub fn bytes(&self, id: usize, what: &'static str) -> Read<&'a [u8]> {
        let (at, len) = self.vector(id, 1, what)?;
        bytes(self.buf, at, len, what)
    }

    /// A string field (lossy UTF-8; empty when absent).
    pub fn string(&self, id: usize, what: &'static str) -> Read<String> {
        Ok(String::from_utf8_lossy(self.bytes(id, what)?).into_owned())
    }

    /// An `[int]` field.
    pub fn i32s(&self, id: usize, what: &'static str) -> Read<Vec<i32>> {
        let (at, len) = self.vector(id, 4, what)?;
        let b = bytes(self.buf, at, 4 * len, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// A `[long]` field.
    pub fn i64s(&self, id: usize, what: &'static str) -> Read<Vec<i64>> {
        let (at, len) = self.vector(id, 8, what)?;
        let b = bytes(self.buf, at, 8 * len, what)?;
        Ok(b.chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    /// A `[float]` field.
    pub fn f32s(&self, id: usize, what: &'static str) -> Read<Vec<f32>> {
        Ok(self
            .i32s(id, what)?
            .into_iter()
            .map(|v| f32::from_bits(v as u32))
            .collect())
    }

    /// A vector-of-tables field.
    pub fn tables(&self, id: usize, what: &'static str) -> Read<Vec<Table<'a>>> {
        let (at, len) = self.vector(id, 4, what)?;
        (0..len)
            .map(|i| Table::at(self.buf, follow(self.buf, at + 4 * i, what)?, what))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-laid buffer: root offset, vtable (3 fields), table with an
    /// `int` (field 0), an absent field 1, and a `[int]` (field 2).
    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0..4].copy_from_slice(&12u32.to_le_bytes()); // root table at 12
                                                       // vtable at 4: len 10, table len 12, field 0 at +4, 1 absent, 2 at +8
        for (i, v) in [10u16, 12, 4, 0, 8].iter().enumerate() {
            b[4 + 2 * i..6 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[12..16].copy_from_slice(&8i32.to_le_bytes()); // 12 − 8 = vtable at 4
        b[16..20].copy_from_slice(&(-5i32).to_le_bytes());
        b[20..24].copy_from_slice(&8u32.to_le_bytes()); // vector at 28
        b[28..32].copy_from_slice(&2u32.to_le_bytes());
        b[32..36].copy_from_slice(&7i32.to_le_bytes());
        b[36..40].copy_from_slice(&9i32.to_le_bytes());
        b
    }

    #[test]
    fn fields_read_their_values_or_their_defaults() {
        let b = sample();
        let t = Table::root(&b).unwrap();
        assert_eq!(t.i32(0, 0, "f0").unwrap(), -5);
        assert_eq!(t.i32(1, 42, "f1").unwrap(), 42);
        assert_eq!(t.i32s(2, "f2").unwrap(), [7, 9]);
        // A field past the vtable is absent.
        assert_eq!(t.u32(9, 3, "f9").unwrap(), 3);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for n in 0..b.len() {
            let cut = &b[..n];
            let read = Table::root(cut).and_then(|t| {
                t.i32(0, 0, "f0")?;
                t.i32s(2, "f2")
            });
            assert!(read.is_err(), "{n} bytes read");
        }
    }
}
