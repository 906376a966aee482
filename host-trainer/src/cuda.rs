//! Training on an NVIDIA GPU (feature `cuda`). burn-cuda loads the driver at
//! run time; a machine without a usable GPU gets a clear error instead of a
//! panic from inside burn.

use anyhow::Result;

use crate::pipeline::{Prepared, TrainArgs, Trained};

/// Trains with burn-cuda on GPU 0.
#[cfg(feature = "cuda")]
pub fn train(p: &Prepared, args: &TrainArgs) -> Result<Trained> {
    use burn::backend::cuda::CudaDevice;
    use burn::backend::{Autodiff, Cuda};
    use burn::tensor::Tensor;

    let device = CudaDevice::default();
    // burn panics when the driver or a GPU is missing: probe once, quietly.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let t = Tensor::<Cuda, 1>::from_floats([1.0, 2.0], &CudaDevice::default());
        t.sum().into_data()
    });
    std::panic::set_hook(hook);
    if probe.is_err() {
        anyhow::bail!(
            "--device cuda: no usable NVIDIA GPU (the CUDA driver did not load or found no device); check `nvidia-smi`, or train with --device cpu"
        );
    }
    crate::pipeline::train_on::<Autodiff<Cuda>>(p, args, device, "cuda (GPU 0)")
}

/// Without the `cuda` feature there is no GPU backend to run.
#[cfg(not(feature = "cuda"))]
pub fn train(_: &Prepared, _: &TrainArgs) -> Result<Trained> {
    anyhow::bail!(
        "--device cuda: this vigie was built without CUDA support; rebuild with `cargo build --release -p vigie-trainer --features cuda`, or train with --device cpu"
    )
}
