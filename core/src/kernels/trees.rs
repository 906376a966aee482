//! Decision trees over int8 features: each tree walks from its root to one
//! leaf by threshold tests (`x[feature] ≤ threshold`: the next node, else
//! the node named `right`), and each class's score is the mean of the
//! reached leaves' int8 scores, rounded half away from zero. The leaves
//! hold a class's log-probability in the output's scale, so the mean is a
//! normalized geometric mean of the trees' probabilities (a product of
//! experts), which the engine's softmax reads as it reads any scores.
//!
//! The accumulators are i32 on the stack, [`CLASS_BLOCK`] classes at a
//! time (128 bytes whatever the model); a model of more classes walks its
//! trees once per block.

use crate::format::{TreesDef, TREE_LEAF};

/// Classes whose scores one walk of the trees accumulates.
pub const CLASS_BLOCK: usize = 32;

/// The leaf row reached by the tree rooted at `root`, walking child links
/// (each after its parent, as validation requires); `None` when a link
/// leaves the node list, or after `node_count` steps (a file that skipped
/// validation cannot make it spin).
#[inline]
fn reached_leaf(input: &[i8], def: &TreesDef<'_>, root: usize) -> Option<usize> {
    let mut i = root;
    for _ in 0..=def.node_count() {
        let (feature, threshold, right) = def.node(i)?;
        if feature == TREE_LEAF {
            return Some(right as usize);
        }
        let x = *input.get(feature as usize)?;
        i = if x <= threshold {
            i + 1
        } else {
            right as usize
        };
    }
    None
}

/// `sum / count` rounded half away from zero, within int8.
#[inline]
fn rounded_mean(sum: i32, count: i32) -> i8 {
    let count = count.max(1);
    let half = count / 2;
    let q = if sum >= 0 {
        (sum + half) / count
    } else {
        (sum - half) / count
    };
    q.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// Fast trees: one walk per tree (per block of [`CLASS_BLOCK`] classes),
/// the reached leaf's row added to accumulators on the stack.
pub fn trees_s8(input: &[i8], def: &TreesDef<'_>, output: &mut [i8]) {
    let classes = def.classes as usize;
    let trees = def.trees();
    let mut start = 0;
    while start < classes {
        let end = (start + CLASS_BLOCK).min(classes);
        let mut acc = [0i32; CLASS_BLOCK];
        for t in 0..trees {
            let Some(leaf) = def.root(t).and_then(|r| reached_leaf(input, def, r)) else {
                continue;
            };
            let Some(row) = def.leaves.get(leaf * classes + start..leaf * classes + end) else {
                continue;
            };
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(v as i8 as i32);
            }
        }
        if let Some(out) = output.get_mut(start..end) {
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = rounded_mean(a, trees as i32);
            }
        }
        start = end;
    }
}

/// Whether node `j` is reached from `root` for `input`, from the path's
/// predicates: `j` is the root, or some inner node before it is reached
/// and its test sends the input to `j` (to `i + 1` when `x ≤ t`, to its
/// right child otherwise).
fn reaches(input: &[i8], def: &TreesDef<'_>, root: usize, j: usize) -> bool {
    if j == root {
        return true;
    }
    (0..j).any(|i| match def.node(i) {
        Some((f, t, r)) if f != TREE_LEAF => {
            let x = input[f as usize];
            let sends = (i + 1 == j && x <= t) || (r as usize == j && x > t);
            sends && reaches(input, def, root, i)
        }
        _ => false,
    })
}

/// Reference trees, from the definition: for each tree, the leaf whose
/// path predicates all hold (found among every node, not by walking
/// links), its row summed in `i64`, then the mean rounded half away from
/// zero.
pub fn trees_s8_reference(input: &[i8], def: &TreesDef<'_>, output: &mut [i8]) {
    let classes = def.classes as usize;
    let trees = def.trees();
    for (c, out) in output.iter_mut().enumerate().take(classes) {
        let mut sum: i64 = 0;
        for t in 0..trees {
            let root = def.root(t).unwrap_or(usize::MAX);
            for j in 0..def.node_count() {
                if let Some((TREE_LEAF, _, leaf)) = def.node(j) {
                    if reaches(input, def, root, j) {
                        sum += def.leaves[leaf as usize * classes + c] as i8 as i64;
                        break;
                    }
                }
            }
        }
        let n = trees.max(1) as i64;
        let q = if sum < 0 {
            -((-2 * sum + n) / (2 * n))
        } else {
            (2 * sum + n) / (2 * n)
        };
        *out = q.clamp(i8::MIN as i64, i8::MAX as i64) as i8;
    }
}
