fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "resolver: not implemented yet; this binary only reserves its place in the workspace"
    )
}
