//! The NVIDIA GPU device (feature `cuda`). burn-cuda loads the driver at run
//! time; a machine without a usable GPU gets a clear error instead of a
//! panic from inside burn.

use anyhow::Result;

/// burn's CUDA backend, with autodiff.
#[cfg(feature = "cuda")]
pub type Backend = burn::backend::Autodiff<burn::backend::Cuda>;

/// GPU 0, after checking that the driver loads and finds it.
#[cfg(feature = "cuda")]
pub fn device() -> Result<burn::backend::cuda::CudaDevice> {
    use burn::backend::cuda::CudaDevice;
    use burn::backend::Cuda;
    use burn::tensor::Tensor;

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
    Ok(CudaDevice::default())
}

/// Without the `cuda` feature there is no GPU backend to run.
#[cfg(not(feature = "cuda"))]
pub fn unavailable<T>() -> Result<T> {
    anyhow::bail!(
        "--device cuda: this vigie was built without CUDA support; rebuild with `cargo build --release -p vigie-trainer --features cuda`, or train with --device cpu"
    )
}
