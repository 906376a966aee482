//! A model update on the device, in QEMU (`cargo run --release --bin
//! update`): two model slots and two state sectors in RAM stand in for
//! flash (`vigie_core::update::UpdateFlash`); slot A holds the BasicMotions
//! CNN, as a factory would leave it; the candidate, the digits MLP, is read
//! from the host's `models/digits.vigie` through semihosting. A copy with
//! one byte changed is refused and the old model keeps running; the
//! genuine one is verified where it lies (signature, CRC, validation, dry
//! run on its probe) and becomes the running model. Exit status 0 when
//! each step went as it must. Power cuts at every step are tested on the
//! host (`tests/tests/update.rs`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use vigie_core::update::{boot, install, Region, UpdateFlash};
use vigie_core::Error;

#[path = "../clock.rs"]
mod clock;
#[path = "../out.rs"]
mod out;

use out::{finish, say};

mod key {
    include!(concat!(env!("OUT_DIR"), "/key.rs"));
}

/// The factory model.
static FACTORY: &[u8] = include_bytes!("../../models/basicmotions.vigie");
/// Bytes per model slot.
const SLOT: usize = 64 * 1024;
/// Bytes per state sector.
const SECTOR: usize = 256;

/// Model slots and state sectors in RAM, with flash's rules: an erase sets
/// 0xFF, a write only clears bits.
struct RamFlash {
    regions: [&'static mut [u8]; 4],
}

fn index(r: Region) -> usize {
    match r {
        Region::SlotA => 0,
        Region::SlotB => 1,
        Region::StateA => 2,
        Region::StateB => 3,
    }
}

impl UpdateFlash for RamFlash {
    fn region(&self, r: Region) -> &[u8] {
        self.regions[index(r)]
    }

    fn erase(&mut self, r: Region) -> Result<(), Error> {
        self.regions[index(r)].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, r: Region, offset: usize, data: &[u8]) -> Result<(), Error> {
        let target = self.regions[index(r)]
            .get_mut(offset..offset + data.len())
            .ok_or(Error::FlashFailed)?;
        for (t, &d) in target.iter_mut().zip(data) {
            *t &= d;
        }
        Ok(())
    }
}

/// A file of the host, read whole through semihosting (the only `unsafe`
/// of this program: the semihosting calls, on a NUL-terminated name and
/// a buffer this function owns for the call). `None` when it cannot be
/// opened or does not fit.
fn read_host_file(name: &str, buf: &mut [u8]) -> Option<usize> {
    use cortex_m_semihosting::syscall;
    debug_assert!(name.ends_with('\0'));
    // SAFETY: OPEN reads `name.len() - 1` bytes of `name`; mode 1 is "rb".
    let fd = unsafe { syscall!(OPEN, name.as_ptr(), 1, name.len() - 1) } as isize;
    if fd < 0 {
        return None;
    }
    // SAFETY: FLEN and CLOSE take the descriptor OPEN returned.
    let len = unsafe { syscall!(FLEN, fd) } as isize;
    let fits = len >= 0 && (len as usize) <= buf.len();
    // SAFETY: READ writes at most `len` bytes into `buf`, which holds them;
    // it returns the number of bytes it did not read.
    let unread = if fits {
        unsafe { syscall!(READ, fd, buf.as_mut_ptr(), len as usize) }
    } else {
        usize::MAX
    };
    unsafe { syscall!(CLOSE, fd) };
    (fits && unread == 0).then_some(len as usize)
}

fn name_of(bytes: &[u8]) -> &str {
    vigie_core::Model::from_bytes(bytes).map_or("?", |m| m.def().name)
}

/// Boots from `flash` and says which slot runs which model.
fn boot_and_say<'f>(
    flash: &'f RamFlash,
    arena: &mut [i8],
    input: &mut [f32],
) -> Result<(Region, &'f [u8]), Error> {
    let (slot, running) = boot(flash, &key::PUBLIC_KEY, arena, input)?;
    say!(
        "boot: slot {:?} runs {} ({} bytes)",
        slot,
        name_of(running),
        running.len()
    );
    Ok((slot, running))
}

#[entry]
fn main() -> ! {
    let clock = clock::Clock::start(cortex_m::Peripherals::take().expect("taken once"));
    let slot_a = cortex_m::singleton!(: [u8; SLOT] = [0xFF; SLOT]).expect("once");
    let slot_b = cortex_m::singleton!(: [u8; SLOT] = [0xFF; SLOT]).expect("once");
    let state_a = cortex_m::singleton!(: [u8; SECTOR] = [0xFF; SECTOR]).expect("once");
    let state_b = cortex_m::singleton!(: [u8; SECTOR] = [0xFF; SECTOR]).expect("once");
    let candidate = cortex_m::singleton!(: [u8; SLOT] = [0; SLOT]).expect("once");
    let arena = cortex_m::singleton!(: [i8; 8192] = [0; 8192]).expect("once");
    let input = cortex_m::singleton!(: [f32; 1024] = [0.0; 1024]).expect("once");
    let mut flash = RamFlash {
        regions: [slot_a, slot_b, state_a, state_b],
    };
    match run(&clock, &mut flash, candidate, arena, input) {
        Ok(ok) => finish(ok),
        Err(e) => {
            say!("error: {}", e);
            finish(false)
        }
    }
}

fn run(
    clock: &clock::Clock,
    flash: &mut RamFlash,
    candidate: &mut [u8],
    arena: &mut [i8],
    input: &mut [f32],
) -> Result<bool, Error> {
    // The factory image in slot A, with its record.
    install(flash, &key::PUBLIC_KEY, FACTORY, arena, input)?;
    install(flash, &key::PUBLIC_KEY, FACTORY, arena, input)?;
    let (factory_slot, _) = boot_and_say(flash, arena, input)?;
    let Some(len) = read_host_file("models/digits.vigie\0", candidate) else {
        say!(
            "error: cannot read models/digits.vigie through semihosting (run from firmware-demo/)"
        );
        return Ok(false);
    };
    say!(
        "candidate: models/digits.vigie, {} bytes, read from the host",
        len
    );
    // One byte changed: refused, and the old model keeps running.
    candidate[len - 1] ^= 1;
    let refused = install(flash, &key::PUBLIC_KEY, &candidate[..len], arena, input);
    candidate[len - 1] ^= 1;
    say!("tampered candidate: {:?}", refused.map(|_| "installed"));
    let (slot, _) = boot_and_say(flash, arena, input)?;
    let kept = refused == Err(Error::SignatureInvalid) && slot == factory_slot;
    // The genuine candidate.
    let t0 = clock.now();
    let target = install(flash, &key::PUBLIC_KEY, &candidate[..len], arena, input)?;
    let cost = clock.to_units(clock.now().wrapping_sub(t0));
    say!(
        "update: slot {:?} written, verified (signature, CRC, validation, dry run) and made active in {} {}",
        target,
        cost,
        clock::UNIT
    );
    let (slot, running) = boot_and_say(flash, arena, input)?;
    let ok = kept && slot == target && running == &candidate[..len];
    say!("result: {}", if ok { "ok" } else { "FAILED" });
    Ok(ok)
}
