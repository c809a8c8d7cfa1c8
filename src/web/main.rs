//! `invscale-web`: the entry point of the browser app, built for wasm32 by Trunk. The page
//! and the worker both load this module; `app.js` and `worker.js` call its exports.

#[cfg(target_family = "wasm")]
fn main() {
    // A panic shows its message in the console instead of "unreachable executed".
    console_error_panic_hook::set_once();
    // Keep the library's exports in the module.
    let _ = invscale::web::parse_task;
}

#[cfg(not(target_family = "wasm"))]
fn main() {
    eprintln!("invscale-web is the browser app: build it with `trunk build --release` (see the README)");
    std::process::exit(2);
}
