//! The one shape of stoke's registries (recipes, optimizers, model architectures, dataset
//! formats): a table of named entries, each with a one-line description (what `stoke ls`
//! shows) and what its owner needs to build it. Adding an entry: a file and one line in the
//! table.

/// A named entry of a registry.
pub struct Entry<T: 'static> {
    pub name: &'static str,
    pub description: &'static str,
    pub item: T,
}

/// The entry called `name`, or a usage error naming the config `key`, the `kind` of thing
/// and the known names.
pub fn find<T>(
    entries: &'static [Entry<T>],
    name: &str,
    key: &str,
    kind: &str,
) -> anyhow::Result<&'static Entry<T>> {
    entries.iter().find(|e| e.name == name).ok_or_else(|| {
        crate::usage_error!(
            "key `{key}`: unknown {kind} `{name}`; known: {}",
            names(entries).join(", ")
        )
    })
}

/// The names of a registry's entries, in its order.
pub fn names<T>(entries: &[Entry<T>]) -> Vec<&'static str> {
    entries.iter().map(|e| e.name).collect()
}
