//! Model updates that never leave a device without a runnable model: two
//! model slots and a journaled record of which one is active, in the
//! manner of MCUboot's A/B slots.
//!
//! The flash holds four regions ([`Region`]): two model slots and two
//! state sectors. A state record ([`STATE_LEN`] bytes: `VGUP`, a sequence
//! number, the active slot, the model's length and a CRC-32 of the rest)
//! lives in either state sector; the valid record with the highest
//! sequence number says which slot runs. [`install`]:
//!
//! 1. erases the inactive slot and writes the candidate into it;
//! 2. verifies it where it lies: signature and CRC, full validation, and a
//!    dry run on the probe input it carries ([`ProbeDef`], added by
//!    `vigie sign`), whose int8 output must have the recorded CRC-32;
//! 3. only then erases the state sector that does not hold the current
//!    record and writes the next record there, pointing at the new slot.
//!
//! Until the last write of step 3 completes, the old record is the newest
//! valid one, so a power cut at any point leaves the old model running; a
//! record cut short fails its CRC. After it, the new model runs. [`boot`]
//! picks the slot, and falls back to the other slot if the chosen one does
//! not verify (`tests/tests/update.rs` cuts the power at every erase and
//! write of an update, and half-way through each write).

use serde::{Deserialize, Serialize};

use crate::format::{crc32, read_f32, section_kind, split_file, FLAG_TRAILER, HEADER_LEN};
use crate::signature::{PUBLIC_KEY_LEN, TRAILER_LEN};
use crate::{Error, Model};

/// A region of the update flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Model slot A.
    SlotA,
    /// Model slot B.
    SlotB,
    /// First state sector.
    StateA,
    /// Second state sector.
    StateB,
}

/// The flash an update writes: erasable regions, written once per erase
/// (NOR semantics), read in place (memory-mapped on a device).
pub trait UpdateFlash {
    /// The bytes of a region as they are now.
    fn region(&self, r: Region) -> &[u8];
    /// Erases a whole region (every byte 0xFF).
    fn erase(&mut self, r: Region) -> Result<(), Error>;
    /// Writes `data` at `offset` of an erased part of a region.
    fn write(&mut self, r: Region, offset: usize, data: &[u8]) -> Result<(), Error>;
}

/// Bytes written per flash write while a candidate is copied in (a
/// typical flash page).
pub const WRITE_CHUNK: usize = 256;
/// Bytes of a state record.
pub const STATE_LEN: usize = 20;
const STATE_MAGIC: [u8; 4] = *b"VGUP";

/// The dry-run probe a model carries (section
/// [`section_kind::PROBE`]): an input, and the CRC-32 of the int8 output
/// the model must give on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeDef<'a> {
    /// The raw input, `f32` little-endian (the model's input length).
    pub input: &'a [u8],
    /// CRC-32 of the output's int8 levels.
    pub output_crc: u32,
}

/// Which slot runs, as a state record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    seq: u32,
    slot: Region,
    len: u32,
}

impl State {
    fn to_bytes(self) -> [u8; STATE_LEN] {
        let mut b = [0u8; STATE_LEN];
        b[..4].copy_from_slice(&STATE_MAGIC);
        b[4..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8] = u8::from(self.slot == Region::SlotB);
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        let crc = crc32(&b[..16]);
        b[16..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn parse(b: &[u8]) -> Option<State> {
        let b = b.get(..STATE_LEN)?;
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        if b[..4] != STATE_MAGIC || word(16) != crc32(&b[..16]) || b[8] > 1 {
            return None;
        }
        Some(State {
            seq: word(4),
            slot: if b[8] == 1 {
                Region::SlotB
            } else {
                Region::SlotA
            },
            len: word(12),
        })
    }
}

fn other(slot: Region) -> Region {
    if slot == Region::SlotA {
        Region::SlotB
    } else {
        Region::SlotA
    }
}

/// The newest valid state record and the sector holding it.
fn current(flash: &dyn UpdateFlash) -> Option<(State, Region)> {
    let a = State::parse(flash.region(Region::StateA)).map(|s| (s, Region::StateA));
    let b = State::parse(flash.region(Region::StateB)).map(|s| (s, Region::StateB));
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0.seq > x.0.seq { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// The length of the model file at the start of `bytes`, from its header
/// (with the signature trailer when flagged).
fn file_len(bytes: &[u8]) -> Option<usize> {
    let head = bytes.get(..HEADER_LEN)?;
    let flags = u16::from_le_bytes([head[6], head[7]]);
    let body = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let trailer = if flags & FLAG_TRAILER != 0 {
        TRAILER_LEN
    } else {
        0
    };
    HEADER_LEN.checked_add(body)?.checked_add(trailer)
}

/// The model in `slot` (its first `len` bytes), if it verifies against
/// `key` and passes its dry run.
fn runnable<'f>(
    flash: &'f dyn UpdateFlash,
    slot: Region,
    len: usize,
    key: &[u8; PUBLIC_KEY_LEN],
    buffers: (&mut [i8], &mut [f32]),
) -> Result<&'f [u8], Error> {
    let bytes = flash
        .region(slot)
        .get(..len)
        .ok_or(Error::UpdateNoRunnableModel)?;
    let model = Model::from_bytes_signed(bytes, key)?;
    dry_run(&model, buffers)?;
    Ok(bytes)
}

/// Runs a model on its probe input and checks the output's CRC-32.
/// `arena` and `input` hold at least the model's arena and input length.
pub fn dry_run(model: &Model<'_>, (arena, input): (&mut [i8], &mut [f32])) -> Result<(), Error> {
    let section = model
        .def()
        .section(section_kind::PROBE)
        .ok_or(Error::UpdateProbeMissing)?;
    let invalid = Error::SectionInvalid {
        place: model.def().section_place(section_kind::PROBE),
        field: "probe",
    };
    let (probe, rest) =
        postcard::take_from_bytes::<ProbeDef<'_>>(section.data).map_err(|_| invalid)?;
    let n = model.input_len();
    if !rest.is_empty() || probe.input.len() != 4 * n {
        return Err(invalid);
    }
    crate::error::Buffer::Input.check(n, input.len())?;
    let input = &mut input[..n];
    for (i, v) in input.iter_mut().enumerate() {
        *v = read_f32(probe.input, i);
    }
    let out = model.run(input, arena)?;
    let raw = out.raw();
    let mut digest = crate::format::CRC32.digest();
    for &q in raw {
        digest.update(&[q as u8]);
    }
    if digest.finalize() != probe.output_crc {
        return Err(Error::UpdateProbeMismatch);
    }
    Ok(())
}

/// The model to run at boot: the active slot's when it verifies against
/// `key` and passes its dry run, else the other slot's (a flash with no
/// state record yet runs slot A). `arena` and `input` are the dry run's
/// buffers.
pub fn boot<'f>(
    flash: &'f dyn UpdateFlash,
    key: &[u8; PUBLIC_KEY_LEN],
    arena: &mut [i8],
    input: &mut [f32],
) -> Result<(Region, &'f [u8]), Error> {
    let (first, first_len) = match current(flash) {
        Some((s, _)) => (s.slot, Some(s.len as usize)),
        None => (Region::SlotA, None),
    };
    for slot in [first, other(first)] {
        let len = match (slot == first, first_len) {
            (true, Some(len)) => Some(len),
            _ => file_len(flash.region(slot)),
        };
        if let Some(len) = len {
            if let Ok(bytes) = runnable(flash, slot, len, key, (&mut *arena, &mut *input)) {
                return Ok((slot, bytes));
            }
        }
    }
    Err(Error::UpdateNoRunnableModel)
}

/// Installs `candidate` into the inactive slot and, once it verifies and
/// passes its dry run where it lies, makes it the active one (module
/// documentation). Returns the slot now active. On any error the active
/// slot is unchanged.
pub fn install(
    flash: &mut dyn UpdateFlash,
    key: &[u8; PUBLIC_KEY_LEN],
    candidate: &[u8],
    arena: &mut [i8],
    input: &mut [f32],
) -> Result<Region, Error> {
    // Refuse what cannot work before touching the flash.
    split_file(candidate)?;
    let state = current(flash);
    let active = state.map_or(Region::SlotA, |(s, _)| s.slot);
    let target = other(active);
    let slot_len = flash.region(target).len();
    if candidate.len() > slot_len {
        return Err(Error::UpdateTooLarge {
            len: candidate.len().min(u32::MAX as usize) as u32,
            slot: slot_len.min(u32::MAX as usize) as u32,
        });
    }
    // 1. The candidate into the inactive slot.
    flash.erase(target)?;
    for (i, chunk) in candidate.chunks(WRITE_CHUNK).enumerate() {
        flash.write(target, i * WRITE_CHUNK, chunk)?;
    }
    // 2. Verified where it lies.
    runnable(&*flash, target, candidate.len(), key, (arena, input))?;
    // 3. The next record, in the sector that does not hold the current one.
    let (seq, sector) = match state {
        Some((s, Region::StateA)) => (s.seq.wrapping_add(1), Region::StateB),
        Some((s, _)) => (s.seq.wrapping_add(1), Region::StateA),
        None => (1, Region::StateA),
    };
    let record = State {
        seq,
        slot: target,
        len: candidate.len() as u32,
    };
    flash.erase(sector)?;
    flash.write(sector, 0, &record.to_bytes())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_record_round_trips_and_a_cut_one_is_invalid() {
        let s = State {
            seq: 7,
            slot: Region::SlotB,
            len: 1234,
        };
        let b = s.to_bytes();
        assert_eq!(State::parse(&b), Some(s));
        for n in 0..STATE_LEN {
            let mut cut = [0xFFu8; STATE_LEN];
            cut[..n].copy_from_slice(&b[..n]);
            assert_eq!(State::parse(&cut), None, "{n} bytes written");
        }
    }
}
