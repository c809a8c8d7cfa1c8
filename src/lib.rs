//! Inverse Scaling Lab: scores Inverse Scaling Prize tasks on the GPT-2 family with the
//! prize pipeline's exact metrics, natively and in the browser.

pub mod checkpoint;
pub mod checksum;
pub mod evaluation;
pub mod hub;
pub mod kernels;
pub mod model;
pub mod report;
pub mod reproduce;
pub mod rng;
pub mod run;
pub mod score;
pub mod stats;
pub mod task;
pub mod tokenizer;
pub mod web;
