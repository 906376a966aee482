//! What the device does, on the host: every loop that runs a model (eval,
//! predict, monitor, replay, drift benchmarks, the monitor's calibration)
//! goes through a `vigie_core::Session`, so the decision the monitor sees
//! and the one a person reads are the device's.

use anyhow::Result;
use vigie_core::monitor::Monitor;
use vigie_core::session::Inferred;
use vigie_core::{Model, Session};

/// Host memory for a [`Session`]: an arena and a monitor state sized for
/// the model and monitor, and the adaptation's state when the model has an
/// adaptation section.
pub struct Memory {
    arena: Vec<i8>,
    state: Vec<f32>,
    adaptation: Vec<f32>,
}

impl Memory {
    /// Buffers for `model` and `monitor`.
    pub fn new(model: &Model<'_>, monitor: Option<&Monitor<'_>>) -> Memory {
        let adaptation = vigie_core::adapt::Adapter::from_model(model)
            .ok()
            .flatten()
            .map_or(0, |a| a.state_len());
        Memory {
            arena: vec![0i8; model.arena_len()],
            state: vec![0.0f32; monitor.map_or(0, Monitor::state_len)],
            adaptation: vec![0.0f32; adaptation],
        }
    }

    /// A session of `model` and `monitor` on these buffers (reset).
    pub fn session<'a>(
        &mut self,
        model: &Model<'a>,
        monitor: Option<&Monitor<'a>>,
    ) -> Result<Session<'a, '_>> {
        Ok(Session::new(
            model.clone(),
            monitor.cloned(),
            &mut self.arena,
            &mut self.state,
        )?)
    }

    /// A session as [`Memory::session`] gives, which also corrects its
    /// inputs after a confirmed drift when the model has an adaptation
    /// section (`vigie train --adapt`), as a device that turns it on.
    pub fn adapting_session<'a>(
        &mut self,
        model: &Model<'a>,
        monitor: Option<&Monitor<'a>>,
    ) -> Result<Session<'a, '_>> {
        let session = Session::new(
            model.clone(),
            monitor.cloned(),
            &mut self.arena,
            &mut self.state,
        )?;
        if self.adaptation.is_empty() {
            return Ok(session);
        }
        Ok(session.with_adaptation(&mut self.adaptation)?)
    }
}

/// What the session decides for each input: inference and the model's one
/// decision (temperature, costs, abstention), as the device takes it. For
/// loops that replay the same rows many times: inference is
/// deterministic, so each row is run once.
pub fn decisions<'a, 'x>(
    model: &Model<'a>,
    inputs: impl IntoIterator<Item = &'x [f32]>,
) -> Result<Vec<Inferred<'a>>> {
    let mut memory = Memory::new(model, None);
    let mut session = memory.session(model, None)?;
    inputs.into_iter().map(|x| Ok(session.infer(x)?)).collect()
}
