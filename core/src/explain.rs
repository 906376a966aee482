//! Per-prediction attribution by occlusion, without a heap: each input
//! channel in turn is replaced by a baseline (its training mean, which the
//! monitor section stores) and the prediction is run again; the fall of the
//! predicted class's probability (or of the regression value) is that
//! channel's attribution. Costs `channels + 1` inferences.

use crate::{Error, Model, Task};

/// Writes one attribution per input channel into `out` and returns the
/// prediction it explains: (decided class, its probability) for a
/// classifier (the decision of [`crate::Output::decide`]), (0, value) for
/// a regression.
///
/// `baseline` holds one value per channel; `scratch` one input's worth of
/// floats (the occluded copy); `arena` is the model's arena.
pub fn occlusion(
    model: &Model<'_>,
    baseline: &[f32],
    input: &[f32],
    scratch: &mut [f32],
    arena: &mut [i8],
    out: &mut [f32],
) -> Result<(usize, f32), Error> {
    let channels = model.input_shape().channels as usize;
    let length = model.input_shape().length as usize;
    for (len, expected) in [
        (input.len(), model.input_len()),
        (scratch.len(), model.input_len()),
        (baseline.len(), channels),
        (out.len(), channels),
    ] {
        if len != expected {
            return Err(Error::RunInputLength {
                expected,
                found: len,
            });
        }
    }
    let score = |model: &Model<'_>, x: &[f32], arena: &mut [i8], class: Option<usize>| {
        let o = model.run(x, arena)?;
        Ok::<_, Error>(match (model.task(), class) {
            (Task::Classification, Some(c)) => (c, o.probability(c).unwrap_or(0.0)),
            (Task::Classification, None) => {
                let d = o.decide()?;
                (d.index, d.probability)
            }
            (Task::Regression, _) => (0, o.value(0).unwrap_or(0.0)),
        })
    };
    let (class, reference) = score(model, input, arena, None)?;
    for (f, slot) in out.iter_mut().enumerate() {
        scratch.copy_from_slice(input);
        scratch[f * length..(f + 1) * length].fill(baseline[f]);
        let (_, occluded) = score(model, scratch, arena, Some(class))?;
        *slot = reference - occluded;
    }
    Ok((class, reference))
}
