//! Generated gRPC code for the three versioned APIs, and the encoded file descriptor set the
//! relayer serves through reflection.
//!
//! Owns nothing but what `build.rs` generates from `crosslock/**/*.proto`. Hand-written logic
//! (validation, conversion to core types) belongs in the relayer, never here.

/// The encoded `FileDescriptorSet` of every package, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/crosslock_descriptor.bin"));

/// `crosslock.public.v1`: the maker-facing swap API.
pub mod public {
    /// Version 1.
    #[allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        clippy::cast_lossless
    )]
    pub mod v1 {
        tonic::include_proto!("crosslock.public.v1");
    }
}

/// `crosslock.resolver.v1`: the relayer <-> resolver API.
pub mod resolver {
    /// Version 1.
    #[allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        clippy::cast_lossless
    )]
    pub mod v1 {
        tonic::include_proto!("crosslock.resolver.v1");
    }
}

/// `crosslock.admin.v1`: the operator API.
pub mod admin {
    /// Version 1.
    #[allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        clippy::cast_lossless
    )]
    pub mod v1 {
        tonic::include_proto!("crosslock.admin.v1");
    }
}
