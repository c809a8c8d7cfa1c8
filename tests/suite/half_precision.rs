//! Half precision (f16 weight matrices, float32 arithmetic) on every fixture task × model:
//! every number stays within the deviation from float32 that the README and the page state
//! (`F16_DEVIATION_ON_FIXTURES`), and does change (the weights really are rounded).

use crate::common;

use burn::tensor::Device;
use invscale::model::{Precision, F16_DEVIATION_ON_FIXTURES};
use invscale::run::{run_task, Control, ExampleResult, RunOptions};
use invscale::score::Metrics;
use invscale::task::{parse_task, TaskType};

/// Every number a result carries (log-probs, losses, log-odds), in a fixed order.
fn numbers(results: &[ExampleResult]) -> Vec<f64> {
    results
        .iter()
        .flat_map(|r| match &r.metrics {
            Metrics::Classification { loss, total_logprob, class_logprobs, .. } => {
                [*loss, *total_logprob].into_iter().chain(class_logprobs.iter().copied()).collect()
            }
            Metrics::SequenceProb { loss } => vec![*loss],
            Metrics::Logodds { logodds_difference, total_logprob, .. } => vec![*logodds_difference, *total_logprob],
            Metrics::Numeric { .. } => panic!("numeric tasks sample; they are not compared here"),
        })
        .collect()
}

/// The largest |f16 − f32| over the fixture tasks of the reference and the fixture models.
fn deviation_on(device: &Device) -> f64 {
    let reference: serde_json::Value = serde_json::from_slice(&common::read(common::fixtures().join("reference.json"))).unwrap();
    let files = reference.as_object().unwrap();
    let mut worst = 0f64;
    for name in common::MODELS {
        let full = common::checkpoint_in(name, device, Precision::F32);
        let half = common::checkpoint_in(name, device, Precision::F16);
        for (file, entry) in files {
            let forced = TaskType::from_name(entry["task_type"].as_str().unwrap());
            let task = parse_task(&common::read(common::fixtures().join("tasks").join(file)), forced).unwrap();
            let run =
                |checkpoint| pollster::block_on(run_task(checkpoint, &task, RunOptions::default(), |_, _| Control::Continue)).unwrap();
            let (a, b) = (numbers(&run(&full)), numbers(&run(&half)));
            assert_eq!(a.len(), b.len());
            let here = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f64, f64::max);
            let relative = a.iter().zip(&b).map(|(x, y)| (x - y).abs() / x.abs().max(1e-9)).fold(0f64, f64::max);
            eprintln!("{file} / {name}: max |f16 - f32| {here:.2e} nats, relative {relative:.2e}");
            worst = worst.max(here);
        }
    }
    worst
}

fn check(device: &Device, backend: &str) {
    let worst = deviation_on(device);
    eprintln!("[{backend}] half precision: max |f16 - f32| over the fixtures {worst:.2e} (stated bound {F16_DEVIATION_ON_FIXTURES:e})");
    assert!(worst > 0.0, "f16 storage left every number unchanged: the weights were not rounded");
    assert!(
        worst <= F16_DEVIATION_ON_FIXTURES,
        "half precision moved a number by {worst:e}, more than the stated {F16_DEVIATION_ON_FIXTURES:e}"
    );
}

#[test]
fn cpu_half_precision_stays_within_the_stated_deviation() {
    check(&Device::flex(), "cpu");
}

/// Where the adapter can hold f16 (lavapipe can; `INVSCALE_REQUIRE_WGPU_F16=1` makes its
/// absence a failure).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_half_precision_stays_within_the_stated_deviation() {
    let Some(device) = common::wgpu_device() else { return };
    if !Precision::F16.supported_on(&device) {
        let required = std::env::var("INVSCALE_REQUIRE_WGPU_F16").is_ok_and(|v| v == "1");
        assert!(!required, "INVSCALE_REQUIRE_WGPU_F16=1 but this wgpu adapter cannot hold f16");
        eprintln!("skipping wgpu half precision: this adapter has no f16 support");
        return;
    }
    check(&device, "wgpu");
}

/// The point of f16: the weights take half the device memory (tiny-hub is a float32
/// checkpoint whose vocabulary matrix is nearly all of it).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_half_precision_halves_the_weights_device_memory() {
    let Some(device) = common::wgpu_device() else { return };
    if !Precision::F16.supported_on(&device) {
        return; // reported by the test above
    }
    let in_use = || {
        device.sync().unwrap();
        device.memory_pool_usage().expect("wgpu reports its memory").bytes_in_use
    };
    let loaded = |precision| {
        let before = in_use();
        let checkpoint = common::checkpoint_in("tiny-hub", &device, precision);
        let bytes = in_use() - before;
        drop(checkpoint);
        bytes
    };
    let (full, half) = (loaded(Precision::F32), loaded(Precision::F16));
    eprintln!("tiny-hub weights on the device: float32 {full} bytes, f16 {half} bytes");
    assert!(full >= 1_600_000, "float32 weights take {full} bytes");
    assert!((half as f64) < 0.55 * full as f64, "f16 weights take {half} bytes, float32 {full}");
}
