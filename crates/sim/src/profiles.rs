//! Named hardware profiles of devices and edge servers.
//!
//! Each profile has an *effective* DNN throughput (GMAC/s) and an active power draw (W).
//! Effective throughput = vendor peak FP32 throughput × an efficiency factor for small-batch
//! CNN inference. The peaks come from the vendors' public specifications (cited per profile);
//! the efficiency factors are coinfer's assumptions (typical framework efficiency on such
//! hardware), stated so users can replace them with their own measurements.
//! A profile's latency for some work is the latency measured on this host scaled by
//! `host_gmacs / profile.gmacs` (see [`HardwareProfile::scale_from_host`]).

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
    /// Where the peak and power figures come from.
    pub source: String,
}

impl HardwareProfile {
    /// Effective throughput in GMAC/s.
    pub fn gmacs(&self) -> f64 {
        self.peak_gmacs * self.efficiency
    }

    /// Latency on this profile of work measured at `host_ms` on a host whose effective
    /// throughput is `host_gmacs`.
    pub fn scale_from_host(&self, host_ms: f64, host_gmacs: f64) -> f64 {
        host_ms * host_gmacs / self.gmacs()
    }

    /// Energy (J) of computing for `ms` milliseconds at the profile's active power.
    pub fn energy_j(&self, ms: f64) -> f64 {
        self.power_w * ms / 1e3
    }
}

fn profile(
    name: &str,
    description: &str,
    role: Role,
    peak_gmacs: f64,
    efficiency: f64,
    power_w: f64,
    source: &str,
) -> HardwareProfile {
    HardwareProfile {
        name: name.into(),
        description: description.into(),
        role,
        peak_gmacs,
        efficiency,
        power_w,
        source: source.into(),
    }
}

/// The built-in profiles.
pub fn builtin_profiles() -> Vec<HardwareProfile> {
    vec![
        // Cortex-M7 @ 480 MHz with a single-precision FPU: 1 FMA per cycle = 0.48 GMAC/s.
        // ~275 µA/MHz at 3.3 V (run mode, all peripherals off) ≈ 0.44 W at 480 MHz.
        profile(
            "mcu",
            "Camera/sensor node microcontroller (STM32H7 class: Cortex-M7 @ 480 MHz, FP32)",
            Role::Device,
            0.48,
            0.5,
            0.44,
            "STMicroelectronics STM32H743 datasheet (Cortex-M7 @ 480 MHz, FPU, run-mode supply current); Arm Cortex-M7 TRM (single-cycle FMA)",
        ),
        // 4× Cortex-A72 @ 1.5 GHz, 2×128-bit NEON FMA pipes: 4 cores × 1.5 GHz × 4 FMA lanes
        // = 24 GMAC/s. Power: ~6.4 W under full CPU load.
        profile(
            "rpi4",
            "Raspberry Pi 4 Model B (4× Cortex-A72 @ 1.5 GHz, CPU inference)",
            Role::Device,
            24.0,
            0.25,
            6.4,
            "Raspberry Pi 4 product brief (BCM2711, 4× A72 @ 1.5 GHz); Arm Cortex-A72 TRM (2× 128-bit NEON); load power per raspberrypi.com power-supply guidance",
        ),
        // 128 Maxwell CUDA cores @ 921 MHz: 236 GFLOPS FP32 = 118 GMAC/s; 10 W power mode.
        profile(
            "jetson-nano",
            "NVIDIA Jetson Nano (128-core Maxwell GPU, FP32, 10 W mode)",
            Role::Device,
            118.0,
            0.4,
            10.0,
            "NVIDIA Jetson Nano module datasheet (472 GFLOPS FP16 / 236 GFLOPS FP32, 5-10 W)",
        ),
        // 4× Cortex-A78 @ 2.4 GHz, 2×128-bit FMA each: 4 × 2.4 × 8 = 77 GMAC/s (big cores only).
        profile(
            "phone",
            "Mid-range phone SoC (Snapdragon 778G class: 4× Cortex-A78 @ 2.4 GHz, CPU inference)",
            Role::Device,
            77.0,
            0.2,
            3.0,
            "Qualcomm Snapdragon 778G product brief (Kryo 670: 4× A78 up to 2.4 GHz); Arm Cortex-A78 (2× 128-bit NEON); ~3 W sustained SoC power",
        ),
        // 16 cores @ 2.5 GHz, 2× AVX-512 FMA (16 fp32 lanes each): 16 × 2.5 × 32 = 1280 GMAC/s.
        profile(
            "edge-cpu",
            "Edge CPU server (16-core Xeon, AVX-512, 2 FMA units @ 2.5 GHz)",
            Role::Edge,
            1280.0,
            0.2,
            165.0,
            "Intel Xeon Gold 6226R-class specifications (16 cores, AVX-512 with 2 FMA units, 150-165 W TDP)",
        ),
        // NVIDIA T4: 8.1 TFLOPS FP32 = 4050 GMAC/s, 70 W.
        profile(
            "edge-gpu",
            "Edge GPU server (NVIDIA T4, FP32)",
            Role::Edge,
            4050.0,
            0.3,
            70.0,
            "NVIDIA T4 Tensor Core GPU datasheet (8.1 TFLOPS FP32, 65 TFLOPS FP16, 70 W)",
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
            assert!(all[i + 1..].iter().all(|q| q.name != p.name));
        }
        assert!(profile_by_name("edge-gpu").is_some_and(|p| p.role == Role::Edge));
    }

    #[test]
    fn scaling_is_proportional_to_throughput() {
        let rpi = profile_by_name("rpi4").unwrap();
        // A host 10× faster than the Pi: 1 ms on the host is 10 ms on the Pi.
        let host = rpi.gmacs() * 10.0;
        assert!((rpi.scale_from_host(1.0, host) - 10.0).abs() < 1e-9);
    }
}
