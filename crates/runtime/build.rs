//! Compiles `proto/coinfer.proto` with protox (pure Rust, no `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/coinfer.proto");
    let fds = protox::compile(["proto/coinfer.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `/health` and `coinfer edge health` print it as JSON.
        .type_attribute("coinfer.v1.HealthResponse", "#[derive(serde::Serialize)]")
        .compile_fds(fds)?;
    Ok(())
}
