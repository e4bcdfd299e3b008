//! Object stores of lakes that live on remote storage, known to the whole process: delta-rs
//! finds them when it opens a table by URL, and every new DataFusion session gets them, so a
//! table on `s3://bucket/...` reads and commits through the store the lake was opened with.
//!
//! Delta commits go through delta-rs' default log store, which writes each log entry with a
//! create-if-absent put: on stores with conditional writes that is safe with concurrent
//! writers, no lock table needed.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use deltalake::logstore::object_store::path::Path as ObjectPath;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use url::Url;

/// The stores, by `scheme://authority` (an S3 bucket, say), rooted at that authority.
#[derive(Default)]
struct RemoteStores {
    stores: RwLock<HashMap<String, ObjectStoreRef>>,
}

fn registry() -> &'static Arc<RemoteStores> {
    static REGISTRY: OnceLock<Arc<RemoteStores>> = OnceLock::new();
    REGISTRY.get_or_init(Arc::default)
}

/// `scheme://authority`, the part of a URL one store serves.
fn origin(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreFactory for RemoteStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, ObjectPath)> {
        let store = self
            .stores
            .read()
            .map_err(|_| DeltaTableError::Generic("the remote store registry is poisoned".into()))?
            .get(&origin(url))
            .cloned()
            .ok_or_else(|| DeltaTableError::InvalidTableLocation(url.to_string()))?;
        let path = ObjectPath::from_url_path(url.path())
            .map_err(|e| DeltaTableError::InvalidTableLocation(format!("{url}: {e}")))?;
        Ok((store, path))
    }
}

impl LogStoreFactory for RemoteStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Makes `store` (rooted at `root`'s scheme and authority) the one delta-rs and DataFusion
/// use for every URL under that origin.
pub(crate) fn register(root: &Url, store: ObjectStoreRef) {
    let factory = registry();
    if let Ok(mut stores) = factory.stores.write() {
        stores.insert(origin(root), store);
    }
    if let Ok(scheme) = Url::parse(&format!("{}://", root.scheme())) {
        object_store_factories().insert(
            scheme.clone(),
            Arc::clone(factory) as Arc<dyn ObjectStoreFactory>,
        );
        logstore_factories().insert(scheme, Arc::clone(factory) as Arc<dyn LogStoreFactory>);
    }
}

/// Every registered store with the URL of the origin it serves.
pub(crate) fn registered() -> Vec<(Url, ObjectStoreRef)> {
    registry()
        .stores
        .read()
        .map(|stores| {
            stores
                .iter()
                .filter_map(|(origin, store)| {
                    Url::parse(origin).ok().map(|url| (url, Arc::clone(store)))
                })
                .collect()
        })
        .unwrap_or_default()
}
