//! `vigie inspect`: what a model file holds and what it costs on a device.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use vigie_core::format::{section_kind, LayerDef};
use vigie_core::Model;

use crate::training_report::TestMetrics;

/// One layer as shown to people.
struct LayerRow {
    kind: &'static str,
    detail: String,
    output: (u32, u32),
    params: u64,
    macs: u64,
}

/// A 2-D window and its input, `k=3×3 on 25×5`.
fn window(w: &vigie_core::format::Window2d) -> String {
    format!(
        "k={}×{} on {}×{}",
        w.kernel_height, w.kernel_width, w.in_height, w.in_width
    )
}

fn layer_rows(model: &Model<'_>) -> Vec<LayerRow> {
    let mut rows = Vec::new();
    let mut shape_in = model.input_shape();
    for (i, layer) in model.def().layers.iter().enumerate() {
        let out = model.layer_output_shape(i).unwrap_or_default();
        let (detail, params) = match layer {
            LayerDef::Dense(d) | LayerDef::Dense16(d) => (
                format!(
                    "{}→{} {:?}{}",
                    d.in_features,
                    d.out_features,
                    d.activation,
                    if layer.input_bytes_per_value() == 2 {
                        ", 16-bit input"
                    } else {
                        ""
                    }
                ),
                d.weights.len() as u64 + d.out_features as u64,
            ),
            LayerDef::Conv1d(c) => (
                format!(
                    "{}→{} k={} s={} {:?} {:?}",
                    c.in_channels, c.out_channels, c.kernel, c.stride, c.padding, c.activation
                ),
                c.weights.len() as u64 + c.out_channels as u64,
            ),
            LayerDef::MaxPool1d(p) | LayerDef::AvgPool1d(p) => {
                (format!("k={} s={} {:?}", p.kernel, p.stride, p.padding), 0)
            }
            LayerDef::GlobalAvgPool1d => (String::new(), 0),
            LayerDef::Quantiles1d(q) => (format!("{} ranks", q.count), 0),
            LayerDef::Flatten => (format!("{}×{}", shape_in.channels, shape_in.length), 0),
            LayerDef::Conv2d(c) => (
                format!(
                    "{}→{} {} s={}×{} {:?} {:?}",
                    c.window.in_channels,
                    c.out_channels,
                    window(&c.window),
                    c.window.stride_height,
                    c.window.stride_width,
                    c.window.padding,
                    c.activation
                ),
                c.weights_len() + c.out_channels as u64,
            ),
            LayerDef::DepthwiseConv2d(c) => (
                format!(
                    "{}×{} {} s={}×{} {:?} {:?}",
                    c.window.in_channels,
                    c.depth_multiplier,
                    window(&c.window),
                    c.window.stride_height,
                    c.window.stride_width,
                    c.window.padding,
                    c.activation
                ),
                c.weights_len() + c.out_channels() as u64,
            ),
            LayerDef::AvgPool2d(p) => (
                format!(
                    "{} s={}×{} {:?}",
                    window(&p.window),
                    p.window.stride_height,
                    p.window.stride_width,
                    p.window.padding
                ),
                0,
            ),
            LayerDef::Softmax(_) => ("int8, 1/256 from -128".into(), 0),
            LayerDef::Save(s) => (format!("keep in slot {}", s.slot), 0),
            LayerDef::Swap(s) => (format!("exchange with slot {}", s.slot), 0),
            LayerDef::Add(a) => (format!("+ slot {} {:?}", a.slot, a.activation), 0),
            LayerDef::Trees(t) => (
                format!(
                    "{} trees, {} nodes, {} leaf rows",
                    t.trees(),
                    t.node_count(),
                    t.leaves.len() / (t.classes as usize).max(1)
                ),
                (t.nodes.len() + t.leaves.len() + t.roots.len()) as u64,
            ),
        };
        let kind = model.layer_kind(i).unwrap_or("?");
        let macs = model.layer_macs(i).unwrap_or(0);
        rows.push(LayerRow {
            kind,
            detail,
            output: (out.channels, out.length),
            params,
            macs,
        });
        shape_in = out;
    }
    rows
}

/// A section kind's name.
pub fn section_name(kind: u16) -> &'static str {
    section_kind::name(kind)
}

/// The buffers a device provides for this model, and its decision rules.
fn device(model: &Model<'_>) -> Result<Value> {
    let monitor = vigie_core::monitor::Monitor::from_model(model)?;
    let sizes = vigie_core::Sizes::of_model(model, monitor.as_ref());
    let cal = model.calibration();
    Ok(json!({
        "device_bytes": crate::files::device_len(model),
        "input_values": sizes.input,
        "arena_bytes": sizes.arena,
        "monitor_state_floats": sizes.monitor_state,
        "monitor_state_bytes": 4 * sizes.monitor_state,
        "monitor": monitor.as_ref().map(|m| {
            let def = m.def();
            let names = crate::monitor_fit::feature_names(model);
            let retired: Vec<&str> = def
                .roles
                .iter()
                .enumerate()
                .filter(|(_, &r)| r == 0)
                .filter_map(|(f, _)| names.get(f).map(String::as_str))
                .collect();
            json!({
                "features": def.features,
                "min_shift": def.params.min_shift,
                "allowances": {"mean": def.params.mean_k, "variance": def.params.variance_k,
                               "outputs": def.params.aux_k},
                "retired_from_cusums": retired,
            })
        }),
        "calibration": (model.task() == vigie_core::Task::Classification).then(|| json!({
            "temperature": cal.temperature,
            "abstain_below": cal.abstain_below,
            "cost_matrix": !cal.costs.is_empty(),
        })),
    }))
}

/// Everything `inspect` reports, as JSON.
pub fn describe(model: &Model<'_>, file_len: usize) -> Result<Value> {
    let def = model.def();
    let rows = layer_rows(model);
    let layers: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"kind": r.kind, "detail": r.detail, "output": [r.output.0, r.output.1],
                   "params": r.params, "macs": r.macs})
        })
        .collect();
    let params: u64 = rows.iter().map(|r| r.params).sum();
    let shape = model.input_shape();
    Ok(json!({
        "name": def.name,
        "device": device(model)?,
        "task": format!("{:?}", model.task()).to_lowercase(),
        "input": {
            "channels": shape.channels,
            "length": shape.length,
            "names": model.input_names().iter().collect::<Vec<_>>(),
            "scale": def.input.quant.scale,
            "zero_point": def.input.quant.zero_point,
        },
        "outputs": model.output_names().iter().collect::<Vec<_>>(),
        "layers": layers,
        "params": params,
        "macs": model.macs(),
        "file_bytes": file_len,
        "arena_bytes": model.arena_len(),
        "sections": def.sections.iter().map(|s| json!({
            "kind": s.kind, "name": section_name(s.kind), "bytes": s.data.len(), "required": s.required
        })).collect::<Vec<_>>(),
        "training": crate::training_report::training_report(model).map(|r| json!({
            "data": r.data, "seed": r.seed, "backend": r.backend,
            "best_epoch": r.history.best_epoch,
            "epochs_run": r.history.epochs.len(),
            "generalization_gap": r.generalization_gap, "test": r.test,
        })),
    }))
}

/// Reads a model file, with the path in every error.
pub fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read model file {}", path.display()))
}

/// Loads a model, naming the file in the error.
pub fn load<'a>(path: &Path, bytes: &'a [u8]) -> Result<Model<'a>> {
    Model::from_bytes(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Runs `vigie inspect`.
pub fn run(path: &Path, as_json: bool) -> Result<()> {
    let bytes = read_model_file(path)?;
    let model = load(path, &bytes)?;
    let d = describe(&model, bytes.len())?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let shape = model.input_shape();
    let shown = |names: Vec<&str>| {
        if names.len() > 8 {
            format!(
                "{}, … {} (+{} more)",
                names[..4].join(", "),
                names[names.len() - 1],
                names.len() - 5
            )
        } else {
            names.join(", ")
        }
    };
    println!(
        "model    {}  ({})",
        model.def().name,
        d["task"].as_str().unwrap_or("")
    );
    println!(
        "input    {} × {}  [{}]",
        shape.channels,
        shape.length,
        shown(model.input_names().iter().collect())
    );
    println!("outputs  {}", shown(model.output_names().iter().collect()));
    println!();
    println!(
        "{:>3}  {:<18} {:<34} {:>10} {:>8} {:>9}",
        "#", "layer", "", "output", "params", "MACs"
    );
    for (i, r) in layer_rows(&model).iter().enumerate() {
        let out = format!("{}×{}", r.output.0, r.output.1);
        println!(
            "{i:>3}  {:<18} {:<34} {:>10} {:>8} {:>9}",
            r.kind, r.detail, out, r.params, r.macs
        );
    }
    println!();
    let dev = &d["device"];
    println!(
        "device       {} bytes of flash (the stripped copy `vigie strip` writes), {} bytes of RAM (arena {}, monitor state {})",
        dev["device_bytes"],
        dev["arena_bytes"].as_u64().unwrap_or(0) + dev["monitor_state_bytes"].as_u64().unwrap_or(0),
        dev["arena_bytes"],
        dev["monitor_state_bytes"]
    );
    println!("parameters   {}", d["params"]);
    println!("MACs         {} per inference", model.macs());
    // A signed file's trailer travels with its device copy.
    let trailer = match vigie_core::signature::signer(&bytes) {
        Ok(_) => vigie_core::signature::TRAILER_LEN as u64,
        Err(_) => 0,
    };
    if Some(bytes.len() as u64) == dev["device_bytes"].as_u64().map(|d| d + trailer) {
        println!(
            "file         {} bytes (a device copy: no host-only sections; used in place)",
            bytes.len()
        );
    } else {
        println!(
            "file         {} bytes (with its host-only sections; used in place)",
            bytes.len()
        );
    }
    match vigie_core::signature::signer(&bytes) {
        Ok(key) => println!(
            "signature    Ed25519, names key {} (check it: vigie verify --model M --pub KEY.pub)",
            key.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Err(vigie_core::Error::SignatureMissing) => {
            println!("signature    none (vigie sign --model M --key K)")
        }
        Err(e) => println!("signature    unreadable: {e}"),
    }
    // An imported model reads its input in TFLite's order (channels last).
    let two_d = model.def().layers.iter().any(|l| {
        matches!(
            l,
            LayerDef::Conv2d(_) | LayerDef::DepthwiseConv2d(_) | LayerDef::AvgPool2d(_)
        )
    });
    println!(
        "input        {} f32 values per inference ({})",
        dev["input_values"],
        if two_d {
            "the imported tensor's own order: TFLite's, channels last (height × width × channels)"
        } else {
            "channels × length, channel-major"
        }
    );
    println!(
        "arena        {} bytes of RAM for inference",
        model.arena_len()
    );
    println!(
        "monitor      {} f32 of state ({} bytes of RAM){}",
        dev["monitor_state_floats"],
        dev["monitor_state_bytes"],
        if dev["monitor_state_floats"] == 0 {
            ": no monitor section"
        } else {
            ""
        }
    );
    if let Ok(Some(a)) = vigie_core::adapt::Adapter::from_model(&model) {
        let d = a.def();
        println!(
            "adaptation   {} f32 of state ({} bytes of RAM, beside the above) for `Session::with_adaptation`: corrects up to {} drifted inputs by a gain within 1/{} to {} and a mean shift of at most {} deviations, after {} samples; confirmed after {}; {} of {} inputs have an end where training values pile up, mapped exactly",
            a.state_len(),
            4 * a.state_len(),
            d.max_channels,
            d.max_gain,
            d.max_gain,
            d.max_offset,
            d.settle,
            d.confirm,
            a.piled_channels(),
            model.input_shape().channels
        );
    }
    if let Some(f) = crate::training_report::training_report(&model).and_then(|r| r.fine_tune) {
        println!(
            "fine-tuned   from {} (CRC {:08x}), {} old rows rehearsed",
            f.from, f.from_crc, f.rehearsal_rows
        );
        for c in &f.compared {
            println!(
                "             {}: {} rows, {} old {:.4}, new {:.4}",
                c.data, c.rows, c.metric, c.old, c.new
            );
        }
    }
    if let Some(m) = dev.get("monitor").filter(|m| !m.is_null()) {
        let retired: Vec<&str> = m["retired_from_cusums"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let listed = if retired.len() > 12 {
            format!("{}, …", retired[..12].join(", "))
        } else {
            retired.join(", ")
        };
        println!(
            "             {} features watched; alarms from a {} sd shift of a mean (--min-shift); {} retired from the mean and variance CUSUMs and the reconstruction (constant, or one value in half the rows or more; their distribution is still watched){}{}",
            m["features"],
            (m["min_shift"].as_f64().unwrap_or(0.0) * 1e3).round() / 1e3,
            retired.len(),
            if retired.is_empty() { "" } else { ": " },
            listed
        );
    }
    if let Some(c) = dev.get("calibration").filter(|c| !c.is_null()) {
        let t = c["abstain_below"].as_f64().unwrap_or(0.0);
        println!(
            "decision     temperature {:.4}; {}; {}",
            c["temperature"].as_f64().unwrap_or(1.0),
            if t > 0.0 {
                format!("abstains below probability {t:.4}")
            } else {
                "never abstains".to_owned()
            },
            if c["cost_matrix"] == true {
                "least expected cost under its cost matrix"
            } else {
                "the most probable class (no cost matrix)"
            }
        );
    }
    if let Some(r) = crate::training_report::training_report(&model) {
        let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
        println!(
            "trained      on {} (target `{}`, seed {}, {}), {}",
            r.data.file,
            r.data.target,
            r.seed,
            r.backend,
            if r.history.epochs.is_empty() {
                "grown on every training row (no epochs)".to_string()
            } else {
                format!(
                    "best epoch {} of {}",
                    r.history.best_epoch,
                    r.history.epochs.len()
                )
            }
        );
        match &r.test {
            TestMetrics::Classification {
                rows,
                int8,
                float,
                agreement,
                ..
            } => println!(
                "test         accuracy float {} / int8 {}, int8 macro-F1 {}, agreement {} ({rows} rows)",
                f(float.as_ref().map(|m| m.accuracy)),
                f(Some(int8.accuracy)),
                f(Some(int8.macro_f1)),
                f(*agreement),
            ),
            TestMetrics::Regression {
                rows, int8, float, ..
            } => println!(
                "test         MAE float {} / int8 {}, int8 RMSE {} ({rows} rows)",
                f(float.map(|m| m.mae)),
                f(Some(int8.mae)),
                f(Some(int8.rmse)),
            ),
        }
    }
    for s in &model.def().sections {
        println!(
            "section      {} ({}), {} bytes{}",
            s.kind,
            section_name(s.kind),
            s.data.len(),
            if s.required { ", required" } else { "" }
        );
    }
    Ok(())
}
