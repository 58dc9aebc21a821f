//! Generates the gRPC code from `crosslock/**/*.proto` with protox (a pure-Rust protobuf
//! compiler), so no system `protoc` is needed, and writes the file descriptor set that the
//! relayer serves through gRPC reflection.

use std::path::PathBuf;

const PROTOS: [&str; 3] = [
    "crosslock/public/v1/swap.proto",
    "crosslock/resolver/v1/resolver.proto",
    "crosslock/admin/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("crosslock_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
