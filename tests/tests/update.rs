//! Model updates that never brick a device (`vigie_core::update`): a host
//! simulation of NOR flash loses its power at every erase and write of an
//! update, and half-way through each write; after every cut the device
//! boots the old model or the new one, never neither.

use vigie_core::update::{boot, install, Region, UpdateFlash, STATE_LEN, WRITE_CHUNK};
use vigie_core::{Error, Model};
use vigie_tests::{demo_public_key, firmware_file};

/// Bytes per model slot in the simulation (the digits model is 34 KB).
const SLOT: usize = 64 * 1024;

/// NOR flash: erase sets every byte to 0xFF, a write can only clear bits.
/// After `budget` operations the power goes: the next operation does half
/// its work (a write, the first half of its bytes; an erase, half the
/// region) and fails, and so does every one after it.
struct SimFlash {
    regions: [Vec<u8>; 4],
    budget: Option<usize>,
    ops: usize,
}

fn index(r: Region) -> usize {
    match r {
        Region::SlotA => 0,
        Region::SlotB => 1,
        Region::StateA => 2,
        Region::StateB => 3,
    }
}

impl SimFlash {
    fn new() -> Self {
        SimFlash {
            regions: [
                vec![0xFF; SLOT],
                vec![0xFF; SLOT],
                vec![0xFF; STATE_LEN * 4],
                vec![0xFF; STATE_LEN * 4],
            ],
            budget: None,
            ops: 0,
        }
    }

    /// Whether this operation runs in full; `false`: the power goes now.
    fn tick(&mut self) -> bool {
        self.ops += 1;
        self.budget.is_none_or(|b| self.ops <= b)
    }
}

impl UpdateFlash for SimFlash {
    fn region(&self, r: Region) -> &[u8] {
        &self.regions[index(r)]
    }

    fn erase(&mut self, r: Region) -> Result<(), Error> {
        let full = self.tick();
        let region = &mut self.regions[index(r)];
        let n = if full { region.len() } else { region.len() / 2 };
        region[..n].fill(0xFF);
        if full {
            Ok(())
        } else {
            Err(Error::FlashFailed)
        }
    }

    fn write(&mut self, r: Region, offset: usize, data: &[u8]) -> Result<(), Error> {
        let full = self.tick();
        let n = if full { data.len() } else { data.len() / 2 };
        let region = &mut self.regions[index(r)];
        let Some(target) = region.get_mut(offset..offset + data.len()) else {
            return Err(Error::FlashFailed);
        };
        for (t, &d) in target.iter_mut().zip(&data[..n]) {
            *t &= d;
        }
        if full {
            Ok(())
        } else {
            Err(Error::FlashFailed)
        }
    }
}

/// A device's buffers for the dry runs (larger than either model needs).
fn buffers() -> (Vec<i8>, Vec<f32>) {
    (vec![0; 8192], vec![0.0; 1024])
}

/// A flash whose slot A holds `old`, installed as a factory would.
fn factory(old: &[u8], key: &[u8; 32]) -> SimFlash {
    let mut flash = SimFlash::new();
    let (mut arena, mut input) = buffers();
    let slot = install(&mut flash, key, old, &mut arena, &mut input).expect("factory install");
    // The first install goes to slot B (slot A is the default): install
    // again so the factory image is in slot A with a record for it.
    assert_eq!(slot, Region::SlotB);
    install(&mut flash, key, old, &mut arena, &mut input).expect("factory install");
    flash
}

#[test]
fn an_update_cut_at_any_step_leaves_the_old_model_or_the_new_one() {
    let key = demo_public_key();
    let old = firmware_file("models/basicmotions.vigie");
    let new = firmware_file("models/digits.vigie");
    // The operations of one complete update.
    let mut whole = factory(&old, &key);
    let before = whole.ops;
    let (mut arena, mut input) = buffers();
    assert_eq!(
        install(&mut whole, &key, &new, &mut arena, &mut input),
        Ok(Region::SlotB)
    );
    let steps = whole.ops - before;
    // Erase the slot, write the model in chunks, erase a state sector,
    // write the record.
    assert_eq!(steps, 1 + new.len().div_ceil(WRITE_CHUNK) + 2);
    let (mut saw_old, mut saw_new) = (0, 0);
    for cut in 0..=steps {
        let mut flash = factory(&old, &key);
        flash.budget = Some(flash.ops + cut);
        let result = install(&mut flash, &key, &new, &mut arena, &mut input);
        assert_eq!(result.is_ok(), cut == steps, "cut after {cut} of {steps}");
        // Power back: the device boots.
        flash.budget = None;
        let (_, running) = boot(&flash, &key, &mut arena, &mut input)
            .unwrap_or_else(|e| panic!("cut after {cut} of {steps}: no model runs: {e}"));
        if running == new.as_slice() {
            saw_new += 1;
        } else {
            assert_eq!(running, old.as_slice(), "cut after {cut}: neither model");
            saw_old += 1;
        }
    }
    // Only the complete update switches.
    assert_eq!((saw_old, saw_new), (steps, 1));
}

#[test]
fn a_tampered_or_wrongly_keyed_candidate_is_refused_and_the_old_model_runs() {
    let key = demo_public_key();
    let old = firmware_file("models/basicmotions.vigie");
    let (mut arena, mut input) = buffers();
    // A byte changed in the signature: it verifies nowhere.
    let mut tampered = firmware_file("models/digits.vigie");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    // Signed with another key.
    let other =
        vigie_core::signature::sign(&firmware_file("models/digits.vigie"), &[5; 32]).unwrap();
    for (candidate, expected) in [
        (tampered, Error::SignatureInvalid),
        (other, Error::SignatureWrongKey),
    ] {
        let mut flash = factory(&old, &key);
        assert_eq!(
            install(&mut flash, &key, &candidate, &mut arena, &mut input),
            Err(expected)
        );
        let (slot, running) = boot(&flash, &key, &mut arena, &mut input).unwrap();
        assert_eq!((slot, running), (Region::SlotA, old.as_slice()));
    }
}

#[test]
fn a_candidate_whose_dry_run_differs_from_its_probe_is_refused() {
    let key = demo_public_key();
    let old = firmware_file("models/basicmotions.vigie");
    let (mut arena, mut input) = buffers();
    // The digits model with its probe's recorded output CRC changed, then
    // signed again (a model that does not compute what was signed off).
    let signed = firmware_file("models/digits.vigie");
    let model = Model::from_bytes(&signed).unwrap();
    let at = model
        .def()
        .sections
        .iter()
        .position(|s| s.kind == vigie_core::format::section_kind::PROBE)
        .expect("vigie sign adds a probe");
    let mut data = model.def().sections[at].data.to_vec();
    let n = data.len();
    data[n - 1] ^= 0x01;
    let mut def = model.def().clone();
    def.sections[at].data = &data;
    let wrong = vigie_core::signature::sign(&def.to_bytes(), &[5; 32]).unwrap();
    let wrong_key = vigie_core::signature::signer(&wrong).unwrap();
    let mut flash = factory(&old, &key);
    assert_eq!(
        install(&mut flash, &wrong_key, &wrong, &mut arena, &mut input),
        Err(Error::UpdateProbeMismatch)
    );
}
