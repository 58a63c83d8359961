//! Named hardware profiles of devices and edge servers.
//!
//! Each profile is a roofline with a per-operator overhead (see [`crate::Compute`]): an
//! effective DNN throughput (GMAC/s), an effective memory bandwidth (GB/s), a fixed time per
//! operator launch (µs) and an active power draw (W). Effective = vendor peak × an efficiency
//! factor. The peaks (compute and memory) come from the vendors' public specifications (cited
//! per profile); the efficiency factors and per-operator overheads are coinfer's assumptions
//! (typical of small-batch CNN inference frameworks on such hardware: interpreter dispatch on
//! microcontrollers, framework + kernel launch on CPUs and GPUs), stated so users can replace
//! them — or supply a per-layer table measured on their own device ([`crate::LayerTimes`]).
//! So a layer on a profile takes `ops·overhead + max(MACs/throughput, bytes/bandwidth)`: never
//! zero, and memory-bound where a layer moves more bytes than it computes.

/// Which side of the link a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A device that runs the head.
    Device,
    /// An edge server that runs the tail.
    Edge,
}

/// A named hardware profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HardwareProfile {
    /// Short name used on the command line (`rpi4`).
    pub name: String,
    /// Human description.
    pub description: String,
    /// Device or edge.
    pub role: Role,
    /// Vendor peak FP32 throughput, GMAC/s (1 MAC = 2 FLOP).
    pub peak_gmacs: f64,
    /// Fraction of the peak reached on small-batch CNN inference (assumption).
    pub efficiency: f64,
    /// Active power while computing (W).
    pub power_w: f64,
    /// Vendor peak memory bandwidth, GB/s.
    pub mem_peak_gbps: f64,
    /// Fraction of the memory peak sustained (assumption, STREAM-like).
    pub mem_efficiency: f64,
    /// Fixed time per operator launch, µs (assumption).
    pub op_overhead_us: f64,
    /// Where the peak and power figures come from.
    pub source: String,
}

impl HardwareProfile {
    /// Effective throughput in GMAC/s.
    pub fn gmacs(&self) -> f64 {
        self.peak_gmacs * self.efficiency
    }

    /// Effective memory bandwidth in GB/s.
    pub fn mem_gbps(&self) -> f64 {
        self.mem_peak_gbps * self.mem_efficiency
    }

    /// Energy (J) of computing for `ms` milliseconds at the profile's active power.
    pub fn energy_j(&self, ms: f64) -> f64 {
        self.power_w * ms / 1e3
    }
}

/// Peak compute and its efficiency, peak memory bandwidth and its efficiency, per-op
/// overhead (µs), power (W).
type Figures = (f64, f64, f64, f64, f64, f64);

fn profile(
    name: &str,
    description: &str,
    role: Role,
    (peak_gmacs, efficiency, mem_peak_gbps, mem_efficiency, op_overhead_us, power_w): Figures,
    source: &str,
) -> HardwareProfile {
    HardwareProfile {
        name: name.into(),
        description: description.into(),
        role,
        peak_gmacs,
        efficiency,
        power_w,
        mem_peak_gbps,
        mem_efficiency,
        op_overhead_us,
        source: source.into(),
    }
}

/// The built-in profiles.
pub fn builtin_profiles() -> Vec<HardwareProfile> {
    vec![
        // Cortex-M7 @ 480 MHz with a single-precision FPU: 1 FMA per cycle = 0.48 GMAC/s.
        // ~275 µA/MHz at 3.3 V (run mode, all peripherals off) ≈ 0.44 W at 480 MHz.
        // Memory: 64-bit AXI bus matrix at 240 MHz to the AXI SRAM = 1.92 GB/s.
        profile(
            "mcu",
            "Camera/sensor node microcontroller (STM32H7 class: Cortex-M7 @ 480 MHz, FP32)",
            Role::Device,
            (0.48, 0.5, 1.92, 0.5, 5.0, 0.44),
            "STMicroelectronics STM32H743 datasheet (Cortex-M7 @ 480 MHz, FPU, run-mode supply current, 64-bit AXI matrix @ 240 MHz); Arm Cortex-M7 TRM (single-cycle FMA)",
        ),
        // 4× Cortex-A72 @ 1.5 GHz, 2×128-bit NEON FMA pipes: 4 cores × 1.5 GHz × 4 FMA lanes
        // = 24 GMAC/s. Power: ~6.4 W under full CPU load. Memory: 32-bit LPDDR4-3200 = 12.8 GB/s.
        profile(
            "rpi4",
            "Raspberry Pi 4 Model B (4× Cortex-A72 @ 1.5 GHz, CPU inference)",
            Role::Device,
            (24.0, 0.25, 12.8, 0.35, 20.0, 6.4),
            "Raspberry Pi 4 product brief (BCM2711, 4× A72 @ 1.5 GHz, LPDDR4-3200); Arm Cortex-A72 TRM (2× 128-bit NEON); load power per raspberrypi.com power-supply guidance",
        ),
        // 128 Maxwell CUDA cores @ 921 MHz: 236 GFLOPS FP32 = 118 GMAC/s; 10 W power mode.
        // Memory: 64-bit LPDDR4 @ 1600 MHz = 25.6 GB/s.
        profile(
            "jetson-nano",
            "NVIDIA Jetson Nano (128-core Maxwell GPU, FP32, 10 W mode)",
            Role::Device,
            (118.0, 0.4, 25.6, 0.6, 20.0, 10.0),
            "NVIDIA Jetson Nano module datasheet (472 GFLOPS FP16 / 236 GFLOPS FP32, 4 GB 64-bit LPDDR4 25.6 GB/s, 5-10 W)",
        ),
        // 4× Cortex-A78 @ 2.4 GHz, 2×128-bit FMA each: 4 × 2.4 × 8 = 77 GMAC/s (big cores only).
        // Memory: LPDDR5 @ 3200 MHz, 4 × 16-bit channels = 51.2 GB/s.
        profile(
            "phone",
            "Mid-range phone SoC (Snapdragon 778G class: 4× Cortex-A78 @ 2.4 GHz, CPU inference)",
            Role::Device,
            (77.0, 0.2, 51.2, 0.4, 15.0, 3.0),
            "Qualcomm Snapdragon 778G product brief (Kryo 670: 4× A78 up to 2.4 GHz, LPDDR5 up to 3200 MHz); Arm Cortex-A78 (2× 128-bit NEON); ~3 W sustained SoC power",
        ),
        // 16 cores @ 2.5 GHz, 2× AVX-512 FMA (16 fp32 lanes each): 16 × 2.5 × 32 = 1280 GMAC/s.
        // Memory: 6 channels of DDR4-2933 = 140.8 GB/s.
        profile(
            "edge-cpu",
            "Edge CPU server (16-core Xeon, AVX-512, 2 FMA units @ 2.5 GHz)",
            Role::Edge,
            (1280.0, 0.2, 140.8, 0.6, 5.0, 165.0),
            "Intel Xeon Gold 6226R-class specifications (16 cores, AVX-512 with 2 FMA units, 6 channels DDR4-2933, 150-165 W TDP)",
        ),
        // NVIDIA T4: 8.1 TFLOPS FP32 = 4050 GMAC/s, 70 W; 320 GB/s GDDR6.
        profile(
            "edge-gpu",
            "Edge GPU server (NVIDIA T4, FP32)",
            Role::Edge,
            (4050.0, 0.3, 320.0, 0.7, 10.0, 70.0),
            "NVIDIA T4 Tensor Core GPU datasheet (8.1 TFLOPS FP32, 65 TFLOPS FP16, 320 GB/s GDDR6, 70 W)",
        ),
    ]
}

/// The built-in profile called `name`.
pub fn profile_by_name(name: &str) -> Option<HardwareProfile> {
    builtin_profiles().into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_figures_positive() {
        let all = builtin_profiles();
        for (i, p) in all.iter().enumerate() {
            assert!(p.gmacs() > 0.0 && p.power_w > 0.0 && p.efficiency <= 1.0, "{}", p.name);
            assert!(p.mem_gbps() > 0.0 && p.mem_efficiency <= 1.0 && p.op_overhead_us > 0.0);
            assert!(all[i + 1..].iter().all(|q| q.name != p.name));
        }
        assert!(profile_by_name("edge-gpu").is_some_and(|p| p.role == Role::Edge));
    }

    #[test]
    fn a_layer_on_a_profile_is_never_free_and_can_be_memory_bound() {
        use crate::layers::{Compute, Layer};
        let gpu = Compute::from(&profile_by_name("edge-gpu").expect("built in"));
        let tiny = Layer::new(10.0, 10.0, 0.0);
        assert!(gpu.layer_s(&tiny) >= 10e-6, "one launch at least");
        // A fully connected layer: 1 MAC per 4-byte weight is far below the GPU's ridge.
        let fc = Layer { mem_bytes: 4.0 * 1e6, ..Layer::new(1e6, 1e3, 1e6) };
        let compute_only = 1e6 / gpu.macs_per_s + 10e-6;
        assert!(gpu.layer_s(&fc) > 2.0 * compute_only);
    }
}
