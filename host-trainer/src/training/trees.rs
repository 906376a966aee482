//! Extremely randomized trees (Geurts, Ernst and Wehenkel, 2006) grown on
//! the int8 features the device reads: a window's quantiles (the
//! `quantiles1d` layer) or a tabular row's input levels, both computed by
//! vigie-core from the input map the model will carry. Each split tests one
//! feature against a level drawn at random between the node's smallest and
//! largest value, the best of a few features by Gini impurity; leaves hold
//! each class's smoothed log-probability. The device averages the reached
//! leaves (`kernels::trees`), a product of the trees' probabilities.
//!
//! No backend is involved: a forest of 50 trees on 100 rows grows in
//! milliseconds, so the search compares trees with networks on the same
//! folds at no cost worth counting.

use anyhow::{Context, Result};
use vigie_core::builder::{FloatInput, FloatLayer, FloatModel, FloatNode, Range};
use vigie_core::{Model, QParams, Task};

use crate::rng::Rng;

/// Pseudo-count added to each class of a leaf: a leaf of one row gives
/// the others a probability of `0.5 / (1 + 0.5·K)`, not 0, so that one
/// tree cannot veto a class (a log of 0 would).
const LEAF_PSEUDO_COUNT: f64 = 0.5;

/// How a forest is grown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Trees.
    pub trees: usize,
    /// Fewest rows on each side of a split.
    pub min_leaf: usize,
    /// Most leaves a tree may grow (the flash budget): `min_leaf` rises to
    /// `⌈rows / max_leaves⌉` on larger data.
    pub max_leaves: usize,
}

/// The int8 features of some rows, as the device computes them.
#[derive(Debug, Clone)]
pub struct Features {
    /// `rows × width` levels.
    pub levels: Vec<i8>,
    /// Features per row.
    pub width: usize,
    /// Quantization of the levels (the input's: quantile pooling keeps it).
    pub quant: QParams,
}

impl Features {
    /// Row `r`'s levels.
    pub fn row(&self, r: usize) -> &[i8] {
        &self.levels[r * self.width..(r + 1) * self.width]
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.levels.len() / self.width.max(1)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

/// The layers that turn the input into the trees' features: quantile
/// pooling of each channel's window, or the flat row.
pub fn feature_layers(quantiles: usize) -> Vec<FloatLayer> {
    if quantiles > 0 {
        vec![FloatLayer::Quantiles1d { count: quantiles }]
    } else {
        vec![FloatLayer::Flatten]
    }
}

/// The int8 features of standardized rows `x` (`rows × channels ×
/// length`) read through an input grid of `grid`, computed by vigie-core
/// (a model of the input map and the feature layers alone).
pub fn features(
    x: &[f32],
    channels: usize,
    length: usize,
    quantiles: usize,
    grid: Range,
) -> Result<Features> {
    let width = channels * if quantiles > 0 { quantiles } else { length };
    let float = FloatModel {
        name: "features".into(),
        input: FloatInput {
            names: (0..channels).map(|c| format!("c{c}")).collect(),
            length: u16::try_from(length).context("window length over 65,535")?,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            range: grid,
            missing: vec![],
            wide: false,
        },
        layers: feature_layers(quantiles),
        task: Task::Regression,
        output_names: (0..width).map(|i| format!("f{i}")).collect(),
    };
    let built = float
        .quantize()
        .context("building the trees' feature reader")?;
    let model = Model::from_def(built.def()).context("the trees' feature reader does not load")?;
    let quant = model.def().input.quant;
    let mut arena = vec![0i8; model.arena_len()];
    let row_len = channels * length;
    let mut levels = Vec::with_capacity(x.len() / row_len.max(1) * width);
    for row in x.chunks_exact(row_len) {
        let out = model
            .run(row, &mut arena)
            .context("reading the trees' features")?;
        levels.extend_from_slice(out.raw());
    }
    Ok(Features {
        levels,
        width,
        quant,
    })
}

/// The grid (range of the standardized values) of some rows, as the
/// quantile MLP fixes it: the rows' smallest and largest finite value.
pub fn grid_of(x: &[f32]) -> Range {
    let (min, max) = x
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if min <= max {
        Range { min, max }
    } else {
        Range { min: 0.0, max: 1.0 }
    }
}

/// One node of a grown tree, in level space.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// `x[feature] ≤ level` goes to the next node, else to `right`.
    Split {
        feature: usize,
        level: i8,
        right: usize,
    },
    /// Log-probability of each class.
    Leaf(Vec<f32>),
}

/// A grown forest.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    classes: usize,
    trees: Vec<Vec<Node>>,
}

impl Forest {
    /// Grows a forest on rows `rows` of `f` with classes `y` (indexed by
    /// row of `f`), seeded.
    pub fn grow(
        f: &Features,
        y: &[usize],
        rows: &[usize],
        classes: usize,
        params: Params,
        seed: u64,
    ) -> Forest {
        let mut rng = Rng(seed ^ 0x7EE5_F0E5);
        let min_leaf = params
            .min_leaf
            .max(rows.len().div_ceil(params.max_leaves.max(1)))
            .max(1);
        // √features tried at each split, as extra-trees do for
        // classification.
        let tries = ((f.width as f64).sqrt().ceil() as usize).clamp(1, f.width.max(1));
        let trees = (0..params.trees)
            .map(|_| {
                let mut work: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                let mut nodes = Vec::new();
                let mut grower = Grower {
                    f,
                    y,
                    classes,
                    min_leaf,
                    tries,
                    rng: &mut rng,
                    nodes: &mut nodes,
                };
                grower.grow(&mut work);
                nodes
            })
            .collect();
        Forest { classes, trees }
    }

    /// The class scores (mean log-probability over trees) of one row of
    /// features.
    pub fn scores(&self, x: &[i8]) -> Vec<f32> {
        let mut out = vec![0.0f32; self.classes];
        for tree in &self.trees {
            let mut i = 0;
            loop {
                match &tree[i] {
                    Node::Split {
                        feature,
                        level,
                        right,
                    } => {
                        i = if x[*feature] <= *level { i + 1 } else { *right };
                    }
                    Node::Leaf(v) => {
                        for (o, s) in out.iter_mut().zip(v) {
                            *o += s;
                        }
                        break;
                    }
                }
            }
        }
        let n = self.trees.len().max(1) as f32;
        out.iter_mut().for_each(|o| *o /= n);
        out
    }

    /// Trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether the forest has no tree.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// Nodes over all trees.
    pub fn nodes(&self) -> usize {
        self.trees.iter().map(Vec::len).sum()
    }

    /// The forest as the builder's layer, thresholds midway between the
    /// levels of `quant` that each split separates.
    pub fn layer(&self, quant: QParams) -> FloatLayer {
        let real = |level: i8| (level as f32 + 0.5 - quant.zero_point as f32) * quant.scale;
        FloatLayer::Trees {
            classes: self.classes,
            trees: self
                .trees
                .iter()
                .map(|t| {
                    t.iter()
                        .map(|n| match n {
                            Node::Split {
                                feature,
                                level,
                                right,
                            } => FloatNode::Split {
                                feature: *feature,
                                threshold: real(*level),
                                right: *right,
                            },
                            Node::Leaf(v) => FloatNode::Leaf(v.clone()),
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

struct Grower<'a> {
    f: &'a Features,
    y: &'a [usize],
    classes: usize,
    min_leaf: usize,
    tries: usize,
    rng: &'a mut Rng,
    nodes: &'a mut Vec<Node>,
}

impl Grower<'_> {
    fn counts(&self, rows: &[u32]) -> Vec<usize> {
        let mut c = vec![0usize; self.classes];
        for &r in rows {
            c[self.y[r as usize]] += 1;
        }
        c
    }

    fn leaf(&mut self, counts: &[usize]) {
        let n: usize = counts.iter().sum();
        let denominator = n as f64 + LEAF_PSEUDO_COUNT * self.classes as f64;
        self.nodes.push(Node::Leaf(
            counts
                .iter()
                .map(|&c| ((c as f64 + LEAF_PSEUDO_COUNT) / denominator).ln() as f32)
                .collect(),
        ));
    }

    /// Gini impurity of a split, weighted by rows: `Σ_side n − Σ_c n_c²/n`.
    fn impurity(left: &[usize], total: &[usize]) -> f64 {
        let (mut nl, mut nr, mut sl, mut sr) = (0.0, 0.0, 0.0, 0.0);
        for (&l, &t) in left.iter().zip(total) {
            let (l, r) = (l as f64, (t - l) as f64);
            nl += l;
            nr += r;
            sl += l * l;
            sr += r * r;
        }
        (nl - if nl > 0.0 { sl / nl } else { 0.0 }) + (nr - if nr > 0.0 { sr / nr } else { 0.0 })
    }

    fn grow(&mut self, rows: &mut [u32]) {
        let counts = self.counts(rows);
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        if pure || rows.len() < 2 * self.min_leaf {
            self.leaf(&counts);
            return;
        }
        // Features in random order; the first `tries` that vary here are
        // drawn a threshold each, and the best split by impurity is kept.
        let mut order: Vec<usize> = (0..self.f.width).collect();
        self.rng.shuffle(&mut order);
        let mut best: Option<(f64, usize, i8)> = None;
        let mut tried = 0;
        let mut left = vec![0usize; self.classes];
        for &feature in &order {
            if tried >= self.tries {
                break;
            }
            let (mut lo, mut hi) = (i8::MAX, i8::MIN);
            for &r in rows.iter() {
                let v = self.f.row(r as usize)[feature];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if lo == hi {
                continue;
            }
            tried += 1;
            // A level in [lo, hi − 1]: `≤ level` left, the rest right.
            let span = hi as i32 - lo as i32;
            let level = (lo as i32 + self.rng.below(span as usize) as i32) as i8;
            left.iter_mut().for_each(|c| *c = 0);
            let mut n_left = 0;
            for &r in rows.iter() {
                if self.f.row(r as usize)[feature] <= level {
                    left[self.y[r as usize]] += 1;
                    n_left += 1;
                }
            }
            if n_left < self.min_leaf || rows.len() - n_left < self.min_leaf {
                continue;
            }
            let score = Self::impurity(&left, &counts);
            if best.is_none_or(|(b, _, _)| score < b) {
                best = Some((score, feature, level));
            }
        }
        let Some((_, feature, level)) = best else {
            self.leaf(&counts);
            return;
        };
        // Partition: rows going left first.
        let f = self.f;
        let mut split = 0;
        for i in 0..rows.len() {
            if f.row(rows[i] as usize)[feature] <= level {
                rows.swap(i, split);
                split += 1;
            }
        }
        let at = self.nodes.len();
        self.nodes.push(Node::Split {
            feature,
            level,
            right: 0,
        });
        let (l, r) = rows.split_at_mut(split);
        self.grow(l);
        // The right child's index within the tree (each tree's list
        // starts empty).
        let right = self.nodes.len();
        if let Node::Split { right: slot, .. } = &mut self.nodes[at] {
            *slot = right;
        }
        self.grow(r);
    }
}

/// Accuracy and mean log-loss (at temperature 1) of `forest` on rows
/// `rows` of `f` with classes `y`.
pub fn score(forest: &Forest, f: &Features, y: &[usize], rows: &[usize]) -> (f64, f64) {
    let (mut right, mut loss) = (0usize, 0.0f64);
    for &r in rows {
        let s = forest.scores(f.row(r));
        let best = s
            .iter()
            .enumerate()
            .fold(0, |b, (i, &v)| if v > s[b] { i } else { b });
        right += usize::from(best == y[r]);
        let max = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = s.iter().map(|&v| (v as f64 - max).exp()).sum();
        loss -= s[y[r]] as f64 - max - z.ln();
    }
    let n = rows.len().max(1) as f64;
    (right as f64 / n, loss / n)
}

/// Bytes of flash one leaf costs in the file: the leaf node and its split
/// (5 bytes each; leaf rows are shared, so not counted).
const FLASH_PER_LEAF: usize = 2 * vigie_core::format::TREE_NODE_BYTES;

/// Growth parameters for `trees` trees with `flash` bytes to spend on
/// their nodes.
pub fn params(trees: usize, flash: usize) -> Params {
    let trees = trees.max(1);
    Params {
        trees,
        min_leaf: 1,
        max_leaves: (flash / (trees * FLASH_PER_LEAF)).max(2),
    }
}

/// A forest grown on some rows and what it reads.
pub struct Grown {
    /// The forest.
    pub forest: Forest,
    /// The input grid it was grown on.
    pub grid: Range,
    /// Quantiles per channel (0: the flat input).
    pub quantiles: usize,
    /// The features' quantization.
    pub quant: QParams,
}

/// Grows a forest on standardized rows `x` with classes `y`.
pub fn grow_on(
    x: &[f32],
    y: &[usize],
    shape: (usize, usize),
    classes: usize,
    quantiles: usize,
    params: Params,
    seed: u64,
) -> Result<Grown> {
    let grid = grid_of(x);
    let f = features(x, shape.0, shape.1, quantiles, grid)?;
    let rows: Vec<usize> = (0..f.len()).collect();
    Ok(Grown {
        forest: Forest::grow(&f, y, &rows, classes, params, seed),
        grid,
        quantiles,
        quant: f.quant,
    })
}

impl Grown {
    /// Accuracy and log-loss on standardized rows `x` with classes `y`.
    pub fn score(&self, x: &[f32], y: &[usize], shape: (usize, usize)) -> Result<(f64, f64)> {
        let f = features(x, shape.0, shape.1, self.quantiles, self.grid)?;
        let rows: Vec<usize> = (0..f.len()).collect();
        Ok(score(&self.forest, &f, y, &rows))
    }

    /// Class scores of standardized rows `x`, row-major.
    pub fn scores(&self, x: &[f32], shape: (usize, usize)) -> Result<Vec<f32>> {
        let f = features(x, shape.0, shape.1, self.quantiles, self.grid)?;
        Ok((0..f.len())
            .flat_map(|r| self.forest.scores(f.row(r)))
            .collect())
    }

    /// The layers of the device model: the feature layers, then the trees.
    pub fn layers(&self) -> Vec<FloatLayer> {
        let mut layers = feature_layers(self.quantiles);
        layers.push(self.forest.layer(self.quant));
        layers
    }
}
