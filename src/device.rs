//! Which burn device the tensors live on: `--device flex|wgpu|cuda` for commands,
//! `WORKBENCH_DEVICE` for benches.
//!
//! burn 0.22 tensors are not generic over a backend: the [`Device`] a tensor is made on picks
//! the backend, and every chapter function takes a `&Device`. Only the edges (a command, a
//! bench) choose one, here. flex (burn's pure-Rust CPU backend) is compiled in always; the GPU
//! backends are opt-in cargo features, so a machine without a GPU builds and tests with no GPU
//! set-up, and asking for a device whose feature was not compiled in is bad input naming the
//! feature.
//!
//! `Device::default()` is never used: it picks "the first enabled backend", so building with
//! `--features wgpu` would move every default tensor to the GPU behind the reader's back.
//!
//! The device a process measures on is remembered ([`current`]) so every record it writes says
//! which device (name and memory) produced it.

use crate::error::BadInput;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The devices a command can run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// burn's pure-Rust CPU backend (SIMD kernels, rayon threads). Always compiled in.
    #[default]
    Flex,
    /// burn's wgpu backend: Vulkan, Metal or DX12, whichever GPU the machine offers (or a
    /// software one such as Mesa's lavapipe). Needs `--features wgpu`.
    Wgpu,
    /// burn's CUDA backend, GPU 0. Needs `--features cuda` (and an NVIDIA driver at run time).
    Cuda,
}

/// `--device`: the flag every tensor command flattens in.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct DeviceFlag {
    /// Where the tensors live: flex (CPU), wgpu or cuda (the GPU ones are cargo features).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Flex)]
    pub device: DeviceChoice,
}

impl DeviceFlag {
    /// The chosen device, remembered as this process's [`current`] one.
    pub fn open(self) -> anyhow::Result<Device> {
        self.device.open()
    }
}

impl DeviceChoice {
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Flex => "flex",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Cuda => "cuda",
        }
    }

    /// Parses `flex`, `wgpu` or `cuda` (what `WORKBENCH_DEVICE` holds).
    pub fn parse(text: &str) -> Result<Self, BadInput> {
        match text.trim() {
            "flex" => Ok(DeviceChoice::Flex),
            "wgpu" => Ok(DeviceChoice::Wgpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(BadInput(format!(
                "unknown device {other:?}: expected flex, wgpu or cuda"
            ))),
        }
    }

    /// `WORKBENCH_DEVICE` (unset or empty: flex), as benches choose their device.
    pub fn from_env() -> Result<Self, BadInput> {
        match std::env::var("WORKBENCH_DEVICE") {
            Ok(v) if !v.trim().is_empty() => {
                Self::parse(&v).map_err(|e| BadInput(format!("WORKBENCH_DEVICE: {e}")))
            }
            _ => Ok(DeviceChoice::Flex),
        }
    }

    /// Whether this build can make this device.
    pub fn compiled_in(self) -> bool {
        match self {
            DeviceChoice::Flex => true,
            DeviceChoice::Wgpu => cfg!(feature = "wgpu"),
            DeviceChoice::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Makes the device and remembers it as this process's [`current`] one. A device whose
    /// cargo feature was not compiled in is bad input that names the feature.
    pub fn open(self) -> anyhow::Result<Device> {
        if !self.compiled_in() {
            crate::bail_input!(
                "--device {0}: this build has no {0} backend; rebuild with `--features {0}` \
                 (e.g. `cargo run --release --features {0} -- …`)",
                self.name()
            );
        }
        let device = make(self);
        let _ = CURRENT.set(DeviceInfo::of(self, &device));
        Ok(device)
    }
}

/// flex, for what measures the CPU itself (`llm-workbench machine`'s matmul rate) whatever
/// device the rest of the process uses. Not remembered as [`current`].
pub fn cpu() -> Device {
    make(DeviceChoice::Flex)
}

/// Only reached for a compiled-in choice (checked by [`DeviceChoice::open`]).
fn make(choice: DeviceChoice) -> Device {
    match choice {
        DeviceChoice::Flex => Device::flex(),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => Device::cuda(0usize),
        #[allow(unreachable_patterns)]
        other => unreachable!("{} is not compiled in", other.name()),
    }
}

/// The device behind a record: which backend, the part's name, and its memory when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// `flex`, `wgpu` or `cuda`.
    pub backend: String,
    /// The processor as it names itself: the CPU model for flex, the adapter for a GPU.
    pub name: String,
    /// Memory the device's tensors can use, in bytes: the machine's RAM for flex; `None` where
    /// the backend does not report it.
    pub memory_bytes: Option<u64>,
}

impl DeviceInfo {
    fn of(choice: DeviceChoice, device: &Device) -> Self {
        if choice == DeviceChoice::Flex {
            return Self::flex();
        }
        // Only a GPU build reaches here ([`DeviceChoice::open`] refuses the others).
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        let name = device.identity().map(|id| id.name);
        #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
        let name: Option<String> = {
            let _ = device;
            None
        };
        DeviceInfo {
            backend: choice.name().to_string(),
            name: name.unwrap_or_else(|| choice.name().to_string()),
            memory_bytes: None,
        }
    }

    /// flex on this machine: what a process that chose nothing measures on.
    pub fn flex() -> Self {
        DeviceInfo {
            backend: "flex".into(),
            name: crate::machine::cpu_model(),
            memory_bytes: crate::machine::memory_bytes(),
        }
    }
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.backend, self.name)?;
        if let Some(bytes) = self.memory_bytes {
            write!(f, ", {}", crate::table::bytes(bytes as f64))?;
        }
        write!(f, ")")
    }
}

static CURRENT: OnceLock<DeviceInfo> = OnceLock::new();

/// The device this process measures on: the first one opened through [`DeviceChoice::open`],
/// or flex if none was. Records are stamped with it.
pub fn current() -> DeviceInfo {
    CURRENT.get().cloned().unwrap_or_else(DeviceInfo::flex)
}

/// The bench's device, from `WORKBENCH_DEVICE`; a bad value or a device not compiled in stops
/// the bench with the one-line reason.
pub fn bench_device() -> Device {
    match DeviceChoice::from_env()
        .map_err(anyhow::Error::from)
        .and_then(DeviceChoice::open)
    {
        Ok(device) => device,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_names_and_refuses_others() {
        assert_eq!(DeviceChoice::parse("flex").unwrap(), DeviceChoice::Flex);
        assert_eq!(DeviceChoice::parse(" cuda ").unwrap(), DeviceChoice::Cuda);
        assert_eq!(DeviceChoice::parse("wgpu").unwrap(), DeviceChoice::Wgpu);
        let err = DeviceChoice::parse("tpu").unwrap_err().to_string();
        assert!(
            err.contains("\"tpu\"") && err.contains("flex, wgpu or cuda"),
            "{err}"
        );
    }

    #[test]
    fn a_device_not_compiled_in_names_its_feature() {
        for choice in [DeviceChoice::Wgpu, DeviceChoice::Cuda] {
            if choice.compiled_in() {
                continue;
            }
            let err = choice.open().unwrap_err();
            assert!(err.downcast_ref::<BadInput>().is_some(), "{err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("--features {}", choice.name())),
                "{text}"
            );
        }
    }

    #[test]
    fn flex_opens_and_describes_this_cpu() {
        let device = DeviceChoice::Flex.open().unwrap();
        assert_eq!(device, Device::flex());
        let info = DeviceInfo::of(DeviceChoice::Flex, &device);
        assert_eq!(info.backend, "flex");
        assert_eq!(info.name, crate::machine::cpu_model());
    }
}
