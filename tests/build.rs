//! Compiles the test protos with the protoc that `protoc-bin-vendored` ships: nothing is
//! installed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/echo.proto"],
        &["proto"],
    )?;
    Ok(())
}
