fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "relayer: not implemented yet; this binary only reserves its place in the workspace"
    )
}
