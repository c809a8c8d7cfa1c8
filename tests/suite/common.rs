//! Shared helpers for the integration tests: fixture paths and loading.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::Device;
use invscale::checkpoint::{self, Checkpoint, Folder};
use invscale::model::Precision;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture model: GPT-2 as published and with a config's other choices, GPT-NeoX parallel and
/// sequential, GPT-Neo with local attention, OPT pre-LN and post-LN (with vocab.json + merges.txt
/// tokenizers).
pub const MODELS: [&str; 9] = [
    "tiny-hub",
    "tiny-prefixed",
    "tiny-odd-heads",
    "tiny-gpt2-variant",
    "tiny-neox",
    "tiny-neox-sequential",
    "tiny-neo",
    "tiny-opt",
    "tiny-opt-post-ln",
];

pub fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn checkpoint(name: &str, device: &Device) -> Checkpoint {
    checkpoint_in(name, device, Precision::F32)
}

/// A fixture model with its weight matrices stored in `precision`, loaded as the CLI loads a
/// folder.
pub fn checkpoint_in(name: &str, device: &Device, precision: Precision) -> Checkpoint {
    let folder = Folder::new(fixtures().join("models").join(name));
    pollster::block_on(checkpoint::load(&folder, device, precision, |_| {})).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The wgpu device when a GPU (or lavapipe) is present, held by one test at a time (a test that
/// reads the device's memory use must not see another's). `INVSCALE_REQUIRE_WGPU=1` (set by
/// `.ci/run`) turns a missing adapter into a failure instead of a skip.
#[cfg(feature = "wgpu")]
pub fn wgpu_device() -> Option<WgpuTurn> {
    use std::sync::{Mutex, OnceLock};
    static DEVICE: OnceLock<Option<Device>> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let device = DEVICE
        .get_or_init(|| match Device::wgpu_options().init() {
            Ok(device) => Some(device),
            Err(e) if std::env::var("INVSCALE_REQUIRE_WGPU").is_ok_and(|v| v == "1") => {
                panic!("INVSCALE_REQUIRE_WGPU=1 but wgpu has no device: {e}")
            }
            Err(e) => {
                eprintln!("skipping wgpu parity: no wgpu device ({e})");
                None
            }
        })
        .clone()?;
    // A test that failed holding it leaves the device usable.
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Some(WgpuTurn { device, _turn: turn })
}

/// The wgpu device, for as long as this test holds it.
#[cfg(feature = "wgpu")]
pub struct WgpuTurn {
    device: Device,
    _turn: std::sync::MutexGuard<'static, ()>,
}

#[cfg(feature = "wgpu")]
impl std::ops::Deref for WgpuTurn {
    type Target = Device;
    fn deref(&self) -> &Device {
        &self.device
    }
}
