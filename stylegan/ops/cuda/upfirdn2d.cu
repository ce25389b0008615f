// Direct upfirdn2d: every output pixel sums the filter taps that land on non-zero input samples.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

template <typename T>
__global__ void upfirdn2d_kernel(const T* x, const float* f, T* y, int nc, int ih, int iw, int oh, int ow, int fh,
                                 int fw, int upx, int upy, int downx, int downy, int padx0, int pady0, bool flip,
                                 float gain) {
    int64_t total = (int64_t)nc * oh * ow;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x) {
        int ox = i % ow;
        int oy = (i / ow) % oh;
        int64_t c = i / ((int64_t)ow * oh);
        // Position of the filter window's first tap in the upsampled, padded signal.
        int sy0 = oy * downy - pady0;
        int sx0 = ox * downx - padx0;
        float acc = 0.f;
        for (int ky = 0; ky < fh; ky++) {
            int sy = sy0 + ky;
            if (sy < 0 || sy % upy != 0) continue;
            int iy = sy / upy;
            if (iy >= ih) continue;
            int fy = flip ? ky : fh - 1 - ky;  // ref flips f unless flip_filter (correlation)
            for (int kx = 0; kx < fw; kx++) {
                int sx = sx0 + kx;
                if (sx < 0 || sx % upx != 0) continue;
                int ix = sx / upx;
                if (ix >= iw) continue;
                int fx = flip ? kx : fw - 1 - kx;
                acc += (float)x[(c * ih + iy) * iw + ix] * f[fy * fw + fx];
            }
        }
        y[i] = (T)(acc * gain);
    }
}

torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                        int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip, double gain) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4 && x.is_contiguous(), "x must be a contiguous [N,C,H,W] CUDA tensor");
    TORCH_CHECK(f.dim() == 2, "f must be 2-D");
    const at::cuda::OptionalCUDAGuard guard(device_of(x));
    auto ff = f.to(torch::kFloat32).contiguous();
    int n = x.size(0), c = x.size(1), ih = x.size(2), iw = x.size(3);
    int fh = ff.size(0), fw = ff.size(1);
    int oh = (ih * upy + pady0 + pady1 - fh + downy) / downy;
    int ow = (iw * upx + padx0 + padx1 - fw + downx) / downx;
    TORCH_CHECK(oh >= 1 && ow >= 1, "upfirdn2d: output would be empty");
    auto y = torch::empty({n, c, oh, ow}, x.options());
    int64_t total = (int64_t)n * c * oh * ow;
    int threads = 256;
    int blocks = (int)std::min<int64_t>((total + threads - 1) / threads, 65535);
    // bf16 too: training runs under bf16 autocast on CUDA (stylegan/train, amp=True), so every op sees it.
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "upfirdn2d",
                                    [&] {
        upfirdn2d_kernel<scalar_t><<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
            x.data_ptr<scalar_t>(), ff.data_ptr<float>(), y.data_ptr<scalar_t>(), n * c, ih, iw, oh, ow, fh, fw,
            upx, upy, downx, downy, padx0, pady0, flip, (float)gain);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("upfirdn2d", &upfirdn2d, "upsample, FIR filter, downsample"); }
