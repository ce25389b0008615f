// Fused bias + activation + gain + clamp (forward only; the backward is differentiable torch code).
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

template <typename T>
__global__ void bias_act_kernel(const T* x, const T* b, T* y, int64_t n, int64_t step_b, int64_t size_b,
                                int act, float alpha, float gain, float clamp) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        float v = (float)x[i];
        if (size_b > 0) v += (float)b[(i / step_b) % size_b];
        if (act == 1) v = v > 0.f ? v : 0.f;
        else if (act == 2) v = v > 0.f ? v : v * alpha;
        v *= gain;
        if (clamp >= 0.f) v = fminf(fmaxf(v, -clamp), clamp);
        y[i] = (T)v;
    }
}

torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, int64_t dim, int64_t act, double alpha, double gain,
                       double clamp) {
    TORCH_CHECK(x.is_cuda() && x.is_contiguous(), "x must be a contiguous CUDA tensor");
    TORCH_CHECK(b.numel() == 0 || (b.is_cuda() && b.dim() == 1 && b.size(0) == x.size(dim)), "bad bias");
    const at::cuda::OptionalCUDAGuard guard(device_of(x));
    auto bb = b.numel() ? b.to(x.scalar_type()).contiguous() : b;
    auto y = torch::empty_like(x);
    int64_t n = x.numel();
    int64_t step_b = 1;
    for (int64_t i = dim + 1; i < x.dim(); i++) step_b *= x.size(i);
    int64_t size_b = b.numel() ? x.size(dim) : 0;
    int threads = 256;
    int blocks = (int)std::min<int64_t>((n + threads - 1) / threads, 65535);
    if (n == 0) return y;
    // bf16 too: training runs under bf16 autocast on CUDA (stylegan/train, amp=True), so every op sees it.
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "bias_act",
                                    [&] {
        bias_act_kernel<scalar_t><<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
            x.data_ptr<scalar_t>(), size_b ? bb.data_ptr<scalar_t>() : nullptr, y.data_ptr<scalar_t>(), n, step_b,
            size_b, (int)act, (float)alpha, (float)gain, (float)clamp);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("bias_act", &bias_act, "fused bias + activation"); }
