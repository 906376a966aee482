//! The drift monitor: fixed memory, no labels needed, one call per sample.
//!
//! Reference statistics and calibrated thresholds travel in the model file
//! (section [`crate::format::section_kind::MONITOR`], a postcard
//! [`MonitorDef`]). The state lives in a caller buffer of
//! [`Monitor::state_len`] `f32`s. Each detector is in its own file:
//!
//! | detector | file | sees |
//! |---|---|---|
//! | input guard | `guard.rs` | NaN, infinity, values far outside the training range |
//! | missing rate | `guard.rs` | more rows with holes than in training (models that impute) |
//! | mean CUSUM | `cusum.rs` | a shift of one feature's level |
//! | variance CUSUM | `cusum.rs` | a sensor that gets noisy, or stuck |
//! | distribution | `distribution.rs` | a change of a feature's shape (Jensen-Shannon) |
//! | output | `output.rs` | class mix against the training prior; a drop in confidence |
//! | reconstruction | `pca.rs` | broken correlations between features |
//! | error rate | `labels.rs` | more mistakes, when labels are fed back |
//!
//! Each detector's file holds its state layout, its `observe`, and
//! (feature `std`) its `fit` from reference rows and its share of the
//! threshold rule ([`Thresholds::calibrated`]); the trainer only chooses
//! the rows and runs the calibration replay.
//!
//! Per-feature detectors work on *normal scores*: a value's reference
//! quantile bin mapped to the standard normal quantile of its middle, so
//! skewed, heavy-tailed real features behave like standard normals.

pub mod cusum;
pub mod distribution;
pub mod guard;
pub mod labels;
pub mod output;
pub mod pca;
pub mod spread;

use serde::{Deserialize, Serialize};

use crate::error::Place;
use crate::format::read_f32;
use crate::math::quantize_affine;
use crate::{Error, Model};

/// Most bins per feature.
pub const MAX_BINS: u16 = 64;
/// Most features a monitor watches. Each sample's feature values and bins
/// are computed once, into a stack buffer of this many entries (2 KiB).
pub const MAX_FEATURES: usize = 256;

/// One feature of the sample being observed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feature {
    /// Raw value (the channel mean for windows); NaN when not finite.
    value: f32,
    /// Its reference bin (0 when the value is missing).
    bin: u8,
}

impl Feature {
    const MISSING: Feature = Feature {
        value: f32::NAN,
        bin: 0,
    };

    /// The value, `None` when missing.
    pub(crate) fn value(&self) -> Option<f32> {
        if self.value.is_nan() {
            None
        } else {
            Some(self.value)
        }
    }
}

/// Largest standardized normal score a sample contributes.
pub const MAX_SCORE: f32 = 4.0;
/// Most features a report names.
pub const MAX_NAMED: usize = 4;

/// Tuning constants of the detectors, chosen with the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonitorParams {
    /// The smallest lasting shift of a feature's mean worth an alarm, in
    /// reference standard deviations (`vigie train --min-shift`). The
    /// allowances below follow from it and from the reference's own
    /// sampling error.
    pub min_shift: f32,
    /// CUSUM allowance for mean shifts, in standard deviations of the
    /// normal score (half the smallest shift to detect quickly).
    pub mean_k: f32,
    /// CUSUM allowance for variance changes (on `z² − 1`).
    pub variance_k: f32,
    /// CUSUM allowance of the confidence, reconstruction and error detectors.
    pub aux_k: f32,
    /// Forgetting factor of the windowed distributions (EWMA weight of a
    /// new sample, about 1 / window length).
    pub ewma: f32,
    /// Divergences are evaluated every this many samples.
    pub check_every: u16,
}

/// One threshold per detector, indexed by [`Detector`] (see
/// [`Detector::ALL`]). The non-finite guard fires on any non-finite value;
/// its entries are 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds(pub [f32; Detector::COUNT]);

impl Thresholds {
    /// Every detector off (infinite thresholds): the monitor's statistics
    /// are still computed, as the trainer's calibration replay needs.
    pub const NEVER: Thresholds = Thresholds([f32::INFINITY; Detector::COUNT]);
}

impl core::ops::Index<Detector> for Thresholds {
    type Output = f32;
    fn index(&self, d: Detector) -> &f32 {
        &self.0[d.index()]
    }
}

impl core::ops::IndexMut<Detector> for Thresholds {
    fn index_mut(&mut self, d: Detector) -> &mut f32 {
        &mut self.0[d.index()]
    }
}

/// Reference statistics and thresholds, as stored in the model file.
///
/// Generic over its byte storage `B`: `&[u8]` borrowed from the file when a
/// device loads it ([`MonitorDefRef`]), `Vec<u8>` when the trainer builds
/// it. Both encode to the same postcard bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorDef<B> {
    /// Monitored features: the model's input channels (a window channel is
    /// monitored through its mean).
    pub features: u16,
    /// Quantile bins per feature.
    pub bins: u16,
    /// `features × (bins − 1)` int8 bin edges in the quantized input
    /// domain, non-decreasing: a value `q` is in bin `#{edges < q}`.
    pub edges: B,
    /// `features × bins` f32: the share of training samples in each bin.
    pub proportions: B,
    /// `features × bins` f32: the normal score of each bin.
    pub scores: B,
    /// `features` f32: mean of the normal score on training data.
    pub score_mean: B,
    /// `features` f32: its standard deviation (0: the feature is constant
    /// and its CUSUMs are off).
    pub score_sd: B,
    /// `features` bytes: the CUSUMs each feature takes part in
    /// ([`cusum::ROLE_MEAN`], [`cusum::ROLE_VARIANCE`]). A feature with too
    /// little information for a CUSUM (constant, or one value in most rows)
    /// has retired from it and is watched through its distribution.
    pub roles: B,
    /// `features` f32, raw units: training mean.
    pub mean: B,
    /// `features` f32, raw units: training standard deviation.
    pub std: B,
    /// `features` f32, raw units: training minimum.
    pub min: B,
    /// `features` f32, raw units: training maximum.
    pub max: B,
    /// For a window model, `2 × channels` f32: each channel's `(β, α)`,
    /// which make its spread feature a residual against the other
    /// channels' spreads ([`spread`]); empty for one value per channel.
    pub coupling: B,
    /// Classes (0 for regression).
    pub classes: u16,
    /// `classes` f32: share of each predicted class on training data.
    pub prior: B,
    /// Mean top-class probability on training data.
    pub confidence_mean: f32,
    /// Its standard deviation.
    pub confidence_sd: f32,
    /// `10` f32: deciles of the top-class probability on training data.
    pub confidence_deciles: B,
    /// Quantile bin edges of the decided class's probability on held-out
    /// rows, in the probability quantized to int8 (`p · 255 − 128`):
    /// `confidence_bins − 1` bytes (none for regression).
    pub confidence_edges: B,
    /// `confidence_bins` f32: the standardized normal score of each bin,
    /// what the confidence CUSUM adds up (heavy tails of a probability
    /// near 1 cannot carry it).
    pub confidence_scores: B,
    /// Principal components kept.
    pub components: u16,
    /// `components × features` f32: orthonormal rows, in standardized units.
    pub basis: B,
    /// `features` f32: mean squared residual of each feature on training data.
    pub residual_share: B,
    /// Mean of `ln(residual + 1e-3)` on training data.
    pub residual_log_mean: f32,
    /// Its standard deviation.
    pub residual_log_sd: f32,
    /// Error rate of the model on validation data (for label feedback).
    pub error_rate: f32,
    /// Share of reference rows with a missing (NaN) input value, for a
    /// model that imputes them (0 otherwise): its missing-rate CUSUM's
    /// centre (`guard::fit_missing` on a host).
    pub missing_rate: f32,
    /// Tuning constants.
    pub params: MonitorParams,
    /// Thresholds for a drift alarm.
    pub drift: Thresholds,
    /// Thresholds for a warning.
    pub warning: Thresholds,
}

/// Drift thresholds are the largest statistic seen on the calibration
/// replay times this margin, since the replay is finite.
pub const THRESHOLD_MARGIN: f32 = 1.1;
/// Warning thresholds are this fraction of the drift thresholds.
pub const WARNING_FRACTION: f32 = 0.6;

impl Thresholds {
    /// (drift, warning) thresholds from the largest value of each
    /// detector's statistic over a calibration replay: each detector's
    /// largest value times [`THRESHOLD_MARGIN`], a warning at
    /// [`WARNING_FRACTION`] of it; the guard keeps its own rule
    /// ([`guard::thresholds`]); any non-finite value is drift.
    pub fn calibrated(worst: &[f32; Detector::COUNT]) -> (Thresholds, Thresholds) {
        let mut drift = Thresholds::NEVER;
        for d in Detector::ALL {
            drift[d] = (worst[d.index()] * THRESHOLD_MARGIN).max(1e-3);
        }
        drift[Detector::GuardNonFinite] = 1.0;
        let (range_warning, range_drift) = guard::thresholds(worst[Detector::GuardRange.index()]);
        drift[Detector::GuardRange] = range_drift;
        let mut warning = Thresholds(drift.0.map(|t| t * WARNING_FRACTION));
        warning[Detector::GuardNonFinite] = 1.0;
        warning[Detector::GuardRange] = range_warning;
        (drift, warning)
    }
}

/// A monitor definition as loaded, borrowing the model file.
pub type MonitorDefRef<'a> = MonitorDef<&'a [u8]>;

impl<B: AsRef<[u8]>> MonitorDef<B> {
    /// The same definition, borrowing this one's bytes.
    pub fn borrowed(&self) -> MonitorDefRef<'_> {
        MonitorDef {
            features: self.features,
            bins: self.bins,
            edges: self.edges.as_ref(),
            proportions: self.proportions.as_ref(),
            scores: self.scores.as_ref(),
            score_mean: self.score_mean.as_ref(),
            score_sd: self.score_sd.as_ref(),
            roles: self.roles.as_ref(),
            mean: self.mean.as_ref(),
            std: self.std.as_ref(),
            min: self.min.as_ref(),
            max: self.max.as_ref(),
            coupling: self.coupling.as_ref(),
            classes: self.classes,
            prior: self.prior.as_ref(),
            confidence_mean: self.confidence_mean,
            confidence_sd: self.confidence_sd,
            confidence_deciles: self.confidence_deciles.as_ref(),
            confidence_edges: self.confidence_edges.as_ref(),
            confidence_scores: self.confidence_scores.as_ref(),
            components: self.components,
            basis: self.basis.as_ref(),
            residual_share: self.residual_share.as_ref(),
            residual_log_mean: self.residual_log_mean,
            residual_log_sd: self.residual_log_sd,
            error_rate: self.error_rate,
            missing_rate: self.missing_rate,
            params: self.params,
            drift: self.drift,
            warning: self.warning,
        }
    }
}

/// How worried the monitor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    /// Nothing unusual.
    Stable,
    /// A statistic is past its warning threshold.
    Warning,
    /// A statistic is past its drift threshold (it is then reset).
    Drift,
}

/// The detectors, as bits of [`Observation::fired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum Detector {
    /// Non-finite input.
    GuardNonFinite = 1,
    /// Input far outside the training range.
    GuardRange = 2,
    /// Mean shift of a feature.
    Mean = 4,
    /// Variance change of a feature (noisy or stuck).
    Variance = 8,
    /// Windowed distribution of a feature.
    Distribution = 16,
    /// Predicted class mix.
    ClassMix = 32,
    /// Drop in confidence.
    Confidence = 64,
    /// Reconstruction error: broken correlations.
    Reconstruction = 128,
    /// Error rate, from labels fed back.
    ErrorRate = 256,
    /// More rows with missing values than in training (a model that
    /// imputes them; for the others a missing value is non-finite input).
    Missing = 512,
}

impl Detector {
    /// Number of detectors.
    pub const COUNT: usize = 10;
    /// All detectors, in bit order.
    pub const ALL: [Detector; Detector::COUNT] = [
        Detector::GuardNonFinite,
        Detector::GuardRange,
        Detector::Mean,
        Detector::Variance,
        Detector::Distribution,
        Detector::ClassMix,
        Detector::Confidence,
        Detector::Reconstruction,
        Detector::ErrorRate,
        Detector::Missing,
    ];

    /// Position in [`Detector::ALL`].
    pub fn index(self) -> usize {
        (self as u16).trailing_zeros() as usize
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Detector::GuardNonFinite => "guard-non-finite",
            Detector::GuardRange => "guard-range",
            Detector::Mean => "mean-cusum",
            Detector::Variance => "variance-cusum",
            Detector::Distribution => "distribution",
            Detector::ClassMix => "class-mix",
            Detector::Confidence => "confidence",
            Detector::Reconstruction => "reconstruction",
            Detector::ErrorRate => "error-rate",
            Detector::Missing => "missing-rate",
        }
    }
}

/// What one sample told the monitor. Serializes with postcard, so a device
/// can send it home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The highest level reached by any detector.
    pub level: Level,
    /// Bits of the [`Detector`]s past their warning or drift threshold.
    pub fired: u16,
    /// The detector with the highest score.
    pub detector: Option<Detector>,
    /// Features it names (indices into the input channels), most
    /// suspicious first. For an output detector (confidence, class mix),
    /// which cannot see the inputs, the feature whose CUSUM stands out, if
    /// one does.
    pub features: heapless::Vec<u16, MAX_NAMED>,
    /// Its statistic divided by its drift threshold (≥ 1 means drift).
    pub score: f32,
    /// This sample's largest statistic of each detector, in
    /// [`Detector::ALL`] order, whatever the thresholds (0 when the
    /// detector did not run). The trainer calibrates thresholds on them.
    pub values: [f32; Detector::COUNT],
}

impl Observation {
    /// Nothing seen.
    pub fn stable() -> Self {
        Observation {
            level: Level::Stable,
            fired: 0,
            detector: None,
            features: heapless::Vec::new(),
            score: 0.0,
            values: [0.0; Detector::COUNT],
        }
    }

    /// Whether a detector fired.
    pub fn has(&self, d: Detector) -> bool {
        self.fired & d as u16 != 0
    }

    /// Records a statistic against its thresholds; returns whether it
    /// reached the drift threshold (the caller then resets it).
    pub(crate) fn record(
        &mut self,
        d: Detector,
        value: f32,
        warning: f32,
        drift: f32,
        features: &[u16],
    ) -> bool {
        let slot = &mut self.values[d.index()];
        if value > *slot {
            *slot = value;
        }
        let level = if value >= drift {
            Level::Drift
        } else if value >= warning {
            Level::Warning
        } else {
            return false;
        };
        self.fired |= d as u16;
        let score = if drift > 0.0 {
            value / drift
        } else {
            f32::INFINITY
        };
        if level > self.level || (level == self.level && score > self.score) {
            self.level = level;
            self.score = score;
            self.detector = Some(d);
            self.features.clear();
            for &f in features.iter().take(MAX_NAMED) {
                let _ = self.features.push(f);
            }
        }
        level == Level::Drift
    }
}

/// A validated monitor definition, borrowing the model file.
#[derive(Debug, Clone)]
pub struct Monitor<'a> {
    def: MonitorDefRef<'a>,
    layout: Layout,
    /// How features come from a raw input, and their bins' int8 maps.
    features: FeatureMap<'a>,
    /// Whether the model imputes missing (NaN) inputs: then a hole is
    /// counted by the missing-rate CUSUM, not reported as non-finite.
    imputes: bool,
}

/// Where each detector's state lives in the state buffer (offsets in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    cusum: usize,
    histogram: usize,
    classes: usize,
    residual: usize,
    scalars: usize,
    len: usize,
}

/// Scalars at the end of the state.
const SCALAR_CONFIDENCE: usize = 0;
const SCALAR_RECONSTRUCTION: usize = 1;
const SCALAR_ERRORS: usize = 2;
const SCALAR_SAMPLES: usize = 3;
const SCALAR_MISSING: usize = 4;
const SCALAR_HISTOGRAM_SCALE: usize = 5;
const SCALARS: usize = 6;

fn check_f32s(
    place: Place,
    bytes: &[u8],
    n: usize,
    field: &'static str,
    finite: bool,
) -> Result<(), Error> {
    if bytes.len() != 4 * n {
        return Err(Error::ValidateTensorLength {
            place,
            field,
            expected: (4 * n).min(u32::MAX as usize) as u32,
            found: bytes.len().min(u32::MAX as usize) as u32,
        });
    }
    if finite && (0..n).any(|i| !read_f32(bytes, i).is_finite()) {
        return Err(Error::SectionInvalid { place, field });
    }
    Ok(())
}

impl<'a> Monitor<'a> {
    /// The monitor stored in a model, if the model has one.
    pub fn from_model(model: &Model<'a>) -> Result<Option<Self>, Error> {
        let Some(section) = model.def().section(crate::format::section_kind::MONITOR) else {
            return Ok(None);
        };
        let place = model
            .def()
            .section_place(crate::format::section_kind::MONITOR);
        let invalid = Error::SectionInvalid {
            place,
            field: "body",
        };
        let (def, rest) =
            postcard::take_from_bytes::<MonitorDefRef<'a>>(section.data).map_err(|_| invalid)?;
        if !rest.is_empty() {
            return Err(invalid);
        }
        Self::new(def, model).map(Some)
    }

    /// Validates a definition against the model it monitors. Errors name
    /// the monitor section and the field at fault.
    pub fn new(def: MonitorDefRef<'a>, model: &Model<'a>) -> Result<Self, Error> {
        let place = model
            .def()
            .section_place(crate::format::section_kind::MONITOR);
        let bad = |field| Error::SectionInvalid { place, field };
        let shape = model.input_shape();
        let f = def.features as usize;
        let b = def.bins as usize;
        if f != monitored_features(shape.channels as usize, shape.length as usize)
            || f > MAX_FEATURES
        {
            return Err(bad("features"));
        }
        if !(2..=MAX_BINS as usize).contains(&b) {
            return Err(bad("bins"));
        }
        if def.edges.len() != f * (b - 1) {
            return Err(bad("edges"));
        }
        for row in def.edges.chunks_exact(b - 1) {
            if row.windows(2).any(|w| (w[0] as i8) > (w[1] as i8)) {
                return Err(bad("edges"));
            }
        }
        let coupling = if shape.length > 1 {
            2 * shape.channels as usize
        } else {
            0
        };
        check_f32s(place, def.coupling, coupling, "coupling", true)?;
        check_f32s(place, def.proportions, f * b, "proportions", true)?;
        check_f32s(place, def.scores, f * b, "scores", true)?;
        for field in [
            def.score_mean,
            def.score_sd,
            def.mean,
            def.std,
            def.min,
            def.max,
            def.residual_share,
        ] {
            check_f32s(place, field, f, "feature statistics", true)?;
        }
        let k = def.classes as usize;
        let outputs = model.output_len();
        if k != 0 && (k != outputs || model.task() != crate::Task::Classification) {
            return Err(bad("classes"));
        }
        check_f32s(place, def.prior, k, "prior", true)?;
        check_f32s(
            place,
            def.confidence_deciles,
            if k == 0 { 0 } else { 10 },
            "confidence_deciles",
            true,
        )?;
        if def.roles.len() != f {
            return Err(bad("roles"));
        }
        let cb = def.confidence_scores.len() / 4;
        let confidence_ok = if k == 0 {
            def.confidence_scores.is_empty() && def.confidence_edges.is_empty()
        } else {
            (2..=MAX_BINS as usize).contains(&cb) && def.confidence_edges.len() == cb - 1
        };
        if !confidence_ok
            || def
                .confidence_edges
                .windows(2)
                .any(|w| (w[0] as i8) > (w[1] as i8))
        {
            return Err(bad("confidence_edges"));
        }
        check_f32s(place, def.confidence_scores, cb, "confidence_scores", true)?;
        let c = def.components as usize;
        if c > f {
            return Err(bad("components"));
        }
        check_f32s(place, def.basis, c * f, "basis", true)?;
        let scalars = [
            def.confidence_mean,
            def.confidence_sd,
            def.residual_log_mean,
            def.residual_log_sd,
            def.error_rate,
            def.missing_rate,
            def.params.min_shift,
            def.params.mean_k,
            def.params.variance_k,
            def.params.aux_k,
            def.params.ewma,
        ];
        if scalars.iter().any(|v| !v.is_finite())
            || !(0.0..=1.0).contains(&def.missing_rate)
            || !(def.params.ewma > 0.0 && def.params.ewma <= 1.0)
        {
            return Err(bad("params"));
        }
        if def.params.check_every == 0 {
            return Err(bad("check_every"));
        }
        for (t, field) in [(&def.drift, "drift"), (&def.warning, "warning")] {
            if t.0.iter().any(|v| v.is_nan() || *v < 0.0) {
                return Err(bad(field));
            }
        }
        let cusum = 0;
        let histogram = cusum + 4 * f;
        let classes = histogram + f * b;
        let residual = classes + k;
        let scalars_at = residual + f;
        let layout = Layout {
            cusum,
            histogram,
            classes,
            residual,
            scalars: scalars_at,
            len: scalars_at + SCALARS,
        };
        let input = &model.def().input;
        Ok(Monitor {
            layout,
            features: FeatureMap {
                channels: shape.channels as usize,
                length: shape.length as usize,
                input_scale: input.scale,
                input_offset: input.offset,
                coupling: def.coupling,
            },
            def,
            imputes: !input.missing.is_empty(),
        })
    }

    /// The definition.
    pub fn def(&self) -> &MonitorDefRef<'a> {
        &self.def
    }

    /// Records a detector's statistic against its warning and drift
    /// thresholds; returns whether it reached drift (the caller resets it).
    pub(crate) fn record(
        &self,
        obs: &mut Observation,
        d: Detector,
        value: f32,
        features: &[u16],
    ) -> bool {
        obs.record(d, value, self.def.warning[d], self.def.drift[d], features)
    }

    /// Training mean of feature `f` in raw units (the baseline of
    /// [`crate::explain::occlusion`]).
    pub fn training_mean(&self, f: usize) -> Option<f32> {
        (f < self.def.features as usize).then(|| read_f32(self.def.mean, f))
    }

    /// Number of `f32`s of state [`Monitor::observe`] needs.
    pub fn state_len(&self) -> usize {
        self.layout.len
    }

    /// Bytes of state.
    pub fn state_bytes(&self) -> usize {
        4 * self.layout.len
    }

    /// Samples in a row without a drift alarm after which a latched drift
    /// alarm clears by itself ([`crate::Session`]): two windows of the
    /// distribution detector (`2 / ewma`), long enough for every detector
    /// that fired on a lasting fault to fire again.
    pub fn recovery_samples(&self) -> u32 {
        let window = 1.0 / self.def.params.ewma;
        (2.0 * window) as u32
    }

    /// Sets a state buffer to the reference (no evidence of drift yet).
    pub fn reset(&self, state: &mut [f32]) -> Result<(), Error> {
        let state = self.state(state)?;
        state.fill(0.0);
        distribution::reset(self, state);
        output::reset(self, state);
        pca::reset(self, state);
        Ok(())
    }

    fn state<'s>(&self, state: &'s mut [f32]) -> Result<&'s mut [f32], Error> {
        let needed = self.layout.len;
        crate::error::Buffer::MonitorState.check(needed, state.len())?;
        Ok(&mut state[..needed])
    }

    /// How this monitor computes its features from a raw input.
    pub fn feature_map(&self) -> &FeatureMap<'a> {
        &self.features
    }

    /// The reference bin of a raw feature value.
    fn bin(&self, f: usize, value: f32) -> usize {
        let (scale, offset) = self.features.bin_map(f);
        let q = quantize_affine(value, scale, offset);
        let b = self.def.bins as usize - 1;
        bin_of(q, &self.def.edges[f * b..(f + 1) * b])
    }

    /// Feature `f`'s normal score on `input` (raw, channel-major),
    /// standardized by its reference mean and deviation: how many
    /// deviations, and which way, it sits from training (`None` for a
    /// constant feature, a value that is not finite, or `f` out of range).
    pub fn standardized_score(&self, input: &[f32], f: usize) -> Option<f32> {
        if f >= self.def.features as usize {
            return None;
        }
        let value = self.features.value(input, f)?;
        self.score(f, self.bin(f, value))
    }

    /// Normal score of a raw feature value's reference bin, before
    /// standardization.
    pub fn raw_score(&self, f: usize, value: f32) -> f32 {
        self.bin_score(f, self.bin(f, value))
    }

    fn bin_score(&self, f: usize, bin: usize) -> f32 {
        read_f32(self.def.scores, f * self.def.bins as usize + bin)
    }

    /// Normal score of a feature's bin, standardized by its reference mean
    /// and deviation; `None` for a constant feature.
    fn score(&self, f: usize, bin: usize) -> Option<f32> {
        let sd = read_f32(self.def.score_sd, f);
        if sd <= 1e-6 {
            return None;
        }
        let z = (self.bin_score(f, bin) - read_f32(self.def.score_mean, f)) / sd;
        // A bin of a near-constant feature can sit many deviations out;
        // capping keeps one rare sample from carrying a CUSUM.
        Some(z.clamp(-MAX_SCORE, MAX_SCORE))
    }

    /// Feeds one sample: its raw input (channel-major, as given to
    /// [`Model::run`]) and, for a classifier, the predicted class and its
    /// probability (`None` when inference failed, for example on NaN).
    pub fn observe(
        &self,
        state: &mut [f32],
        input: &[f32],
        prediction: Option<(usize, f32)>,
    ) -> Result<Observation, Error> {
        let expected = self.features.channels * self.features.length;
        if input.len() != expected {
            return Err(Error::RunInputLength {
                expected,
                found: input.len(),
            });
        }
        let state = self.state(state)?;
        // Each feature's value and bin, once per sample, for every detector.
        let mut buffer = [Feature::MISSING; MAX_FEATURES];
        let sample = &mut buffer[..self.def.features as usize];
        self.features
            .fill(input, sample, |feature| &mut feature.value);
        for (f, feature) in sample.iter_mut().enumerate() {
            if let Some(value) = feature.value() {
                feature.bin = self.bin(f, value) as u8;
            }
        }
        let sample = &*sample;
        let mut obs = Observation::stable();
        guard::observe(self, state, input, sample, &mut obs);
        let samples = state[self.layout.scalars + SCALAR_SAMPLES] + 1.0;
        state[self.layout.scalars + SCALAR_SAMPLES] = if samples >= 16_777_216.0 {
            0.0
        } else {
            samples
        };
        let check = (samples as u32) % self.def.params.check_every as u32 == 0;
        cusum::observe(self, state, sample, &mut obs);
        distribution::observe(self, state, sample, check, &mut obs);
        pca::observe(self, state, sample, &mut obs);
        if let Some((class, confidence)) = prediction {
            output::observe(self, state, class, confidence, check, &mut obs);
        }
        if obs.level != Level::Stable
            && obs.features.is_empty()
            && matches!(
                obs.detector,
                Some(Detector::Confidence | Detector::ClassMix)
            )
        {
            // An output detector says that something changed, not which
            // input: the feature-level CUSUMs may know.
            if let Some(f) = cusum::suspect(self, state) {
                let _ = obs.features.push(f);
            }
        }
        Ok(obs)
    }

    /// Feeds back whether the model's prediction for a sample was right.
    pub fn observe_label(&self, state: &mut [f32], correct: bool) -> Result<Observation, Error> {
        let state = self.state(state)?;
        let mut obs = Observation::stable();
        labels::observe(self, state, correct, &mut obs);
        Ok(obs)
    }
}

#[cfg(feature = "alloc")]
impl<B: Serialize> MonitorDef<B> {
    /// The section's bytes (postcard).
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        postcard::to_allocvec(self).expect("postcard serialization into a Vec cannot fail")
    }
}

/// The monitored value of one channel: the mean of its samples (the value
/// itself for tabular data), `None` when one is not finite or there is none.
pub fn channel_mean(xs: &[f32]) -> Option<f32> {
    let mut sum = 0.0f32;
    for &x in xs {
        if !x.is_finite() {
            return None;
        }
        sum += x;
    }
    if xs.is_empty() {
        None
    } else {
        Some(sum / xs.len() as f32)
    }
}

/// Features a monitor watches for an input of `channels` channels of
/// `length` values: each channel's mean, and for windows (`length > 1`)
/// each channel's spread too, since a mean hides a gain on a zero-mean
/// axis.
pub fn monitored_features(channels: usize, length: usize) -> usize {
    if length > 1 {
        2 * channels
    } else {
        channels
    }
}

/// Where monitored feature `f` comes from: its input channel, and whether
/// it is that channel's spread (the second block of a window model's
/// features) rather than its mean.
pub fn feature_channel(channels: usize, f: usize) -> (usize, bool) {
    (f % channels.max(1), f >= channels)
}

/// How a monitor computes its features from a channel-major raw input:
/// channel `f`'s mean for `f < channels`, then for windows channel
/// `f − channels`'s spread against the others' ([`spread`]).
#[derive(Debug, Clone, Copy)]
pub struct FeatureMap<'a> {
    /// Input channels.
    pub channels: usize,
    /// Values per channel (1: tabular, no spread features).
    pub length: usize,
    /// The model's input map, `f32` little-endian per channel.
    pub input_scale: &'a [u8],
    /// Its offsets.
    pub input_offset: &'a [u8],
    /// The spreads' coupling ([`MonitorDef::coupling`]).
    pub coupling: &'a [u8],
}

impl FeatureMap<'_> {
    /// Number of features.
    pub fn count(&self) -> usize {
        monitored_features(self.channels, self.length)
    }

    /// Every feature's value of `input` into `out` (NaN where a value is
    /// not finite); `out` is cut to [`FeatureMap::count`].
    pub fn values(&self, input: &[f32], out: &mut [f32]) {
        self.fill(input, out, |v| v);
    }

    /// Feature `f`'s value of `input`, `None` when a value it needs is not
    /// finite or `f` is out of range.
    pub fn value(&self, input: &[f32], f: usize) -> Option<f32> {
        let (c, is_spread) = feature_channel(self.channels, f);
        if f >= self.count() {
            return None;
        }
        if !is_spread {
            return channel_mean(self.window(input, c)?);
        }
        let own = self.log_spread(input, c).filter(|l| l.is_finite())?;
        // As `fill` does it, term for term: the sum of every present
        // log-spread in channel order, less this channel's own.
        let (mut total, mut present) = (0.0f32, 0u32);
        for j in 0..self.channels {
            if let Some(l) = self.log_spread(input, j).filter(|l| l.is_finite()) {
                total += l;
                present += 1;
            }
        }
        Some(spread::residual(
            own,
            total - own,
            present - 1,
            self.coupling,
            c,
        ))
    }

    /// Whether feature `f` is a channel's spread (not its mean).
    pub fn is_spread(&self, f: usize) -> bool {
        feature_channel(self.channels, f).1
    }

    /// The int8 map `(scale, offset)` of feature `f`'s bins: its channel's
    /// own input map for a mean, [`spread::MAP`] for a spread.
    pub fn bin_map(&self, f: usize) -> (f32, f32) {
        match feature_channel(self.channels, f) {
            (_, true) => spread::MAP,
            (c, false) => (
                read_f32(self.input_scale, c),
                read_f32(self.input_offset, c),
            ),
        }
    }

    fn window<'i>(&self, input: &'i [f32], c: usize) -> Option<&'i [f32]> {
        input.get(c * self.length..(c + 1) * self.length)
    }

    fn log_spread(&self, input: &[f32], c: usize) -> Option<f32> {
        spread::log_spread(self.window(input, c)?, read_f32(self.input_scale, c))
    }

    /// [`FeatureMap::values`] into any slots: the means, then each
    /// channel's log-spread, then (all of them known) the residuals.
    pub(crate) fn fill<T>(&self, input: &[f32], out: &mut [T], slot: impl Fn(&mut T) -> &mut f32) {
        let n = self.count().min(out.len());
        let out = &mut out[..n];
        let (means, spreads) = out.split_at_mut(self.channels.min(n));
        for (c, o) in means.iter_mut().enumerate() {
            *slot(o) = self
                .window(input, c)
                .and_then(channel_mean)
                .unwrap_or(f32::NAN);
        }
        let (mut total, mut present) = (0.0f32, 0u32);
        for (c, o) in spreads.iter_mut().enumerate() {
            // An infinite spread (values that overflow) is missing, as a
            // non-finite value is: it would make every other residual
            // infinite.
            let l = self
                .log_spread(input, c)
                .filter(|l| l.is_finite())
                .unwrap_or(f32::NAN);
            *slot(o) = l;
            if !l.is_nan() {
                total += l;
                present += 1;
            }
        }
        for (c, o) in spreads.iter_mut().enumerate() {
            let v = slot(o);
            if !v.is_nan() {
                *v = spread::residual(*v, total - *v, present - 1, self.coupling, c);
            }
        }
    }
}

/// The spread feature of a channel's window: its standard deviation,
/// `None` when a value is not finite or there is none.
pub fn channel_spread(xs: &[f32]) -> Option<f32> {
    let m = channel_mean(xs)?;
    let ss: f32 = xs.iter().map(|&x| (x - m) * (x - m)).sum();
    Some(crate::math::sqrt(ss / xs.len() as f32))
}

/// The bin of an int8 value: the number of edges strictly below it, found
/// by bisection (edges are non-decreasing: validation refuses others).
pub fn bin_of(q: i8, edges: &[u8]) -> usize {
    edges.partition_point(|&e| (e as i8) < q)
}
