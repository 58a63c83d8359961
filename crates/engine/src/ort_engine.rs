//! The ONNX Runtime backend (cargo feature `ort`), loading `libonnxruntime` at run time.
//!
//! The library comes from the PyPI `onnxruntime` wheel that `scripts/setup.sh` installs into
//! `.venv/`; set `ORT_DYLIB_PATH` to use another one.

use std::sync::Arc;

use crate::engine::Engine;
#[cfg(not(feature = "ort"))]
use crate::error::EngineError;
use crate::error::Result;

/// Where to look for `libonnxruntime.so`: `ORT_DYLIB_PATH`, then the `onnxruntime` wheel in the
/// Python site-packages coinfer searches (the project's `.venv`, see
/// [`coinfer_data::site_packages_dirs`]).
pub fn find_ort_library() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(p.into());
    }
    coinfer_data::site_packages_dirs().into_iter().find_map(|site| {
        std::fs::read_dir(site.join("onnxruntime/capi")).ok()?.flatten().find_map(|f| {
            f.file_name().to_string_lossy().starts_with("libonnxruntime.so.").then(|| f.path())
        })
    })
}

#[cfg(not(feature = "ort"))]
pub(crate) fn ort_engine() -> Result<Arc<dyn Engine>> {
    Err(EngineError::Unavailable {
        name: "ort".into(),
        reason: "this build has no ONNX Runtime backend; rebuild with `--features ort`".into(),
    })
}

#[cfg(feature = "ort")]
pub(crate) fn ort_engine() -> Result<Arc<dyn Engine>> {
    imp::OrtEngine::new().map(|e| Arc::new(e) as Arc<dyn Engine>)
}

#[cfg(feature = "ort")]
mod imp {
    use std::sync::{Arc, Mutex, OnceLock};

    use coinfer_graph::pb::ModelProto;
    use ort::session::Session;

    use super::find_ort_library;
    use crate::engine::{check_inputs, declared_inputs, Engine, Runnable, Tensor};
    use crate::error::{EngineError, Result};

    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();

    fn environment() -> Result<&'static ort::environment::Environment> {
        let env = ENV.get_or_init(|| {
            let lib = find_ort_library().ok_or_else(|| {
                "libonnxruntime not found: run scripts/setup.sh or set ORT_DYLIB_PATH".to_string()
            })?;
            ort::init_from(&lib)
                .map_err(|e| format!("cannot load {}: {e}", lib.display()))?
                .with_name("coinfer")
                .build()
                .map_err(|e| e.to_string())
        });
        env.as_ref().map_err(|reason| EngineError::Unavailable {
            name: "ort".into(),
            reason: reason.clone(),
        })
    }

    /// ONNX Runtime, one intra-op thread per session (as tract), full graph optimisation.
    pub struct OrtEngine {
        env: &'static ort::environment::Environment,
    }

    impl OrtEngine {
        pub fn new() -> Result<OrtEngine> {
            Ok(OrtEngine { env: environment()? })
        }
    }

    struct OrtRunnable {
        session: Mutex<Session>,
        declared: Vec<(String, Vec<Option<usize>>)>,
    }

    fn prep<E: std::fmt::Display>(e: E) -> EngineError {
        EngineError::Prepare { engine: "ort", reason: e.to_string() }
    }

    impl Engine for OrtEngine {
        fn name(&self) -> &'static str {
            "ort"
        }

        fn prepare(&self, model: &ModelProto) -> Result<Arc<dyn Runnable>> {
            let bytes = prost::Message::encode_to_vec(model);
            let session = Session::builder(self.env)
                .map_err(prep)?
                .with_intra_threads(1)
                .map_err(prep)?
                .with_inter_threads(1)
                .map_err(prep)?
                .commit_from_memory(&bytes)
                .map_err(prep)?;
            Ok(Arc::new(OrtRunnable {
                session: Mutex::new(session),
                declared: declared_inputs(model),
            }))
        }
    }

    impl Runnable for OrtRunnable {
        fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            check_inputs(&self.declared, inputs)?;
            let run = |e: ort::Error| EngineError::Run { engine: "ort", reason: e.to_string() };
            let values: Vec<ort::session::SessionInputValue> = inputs
                .iter()
                .map(|x| {
                    ort::value::Tensor::from_array(x.as_standard_layout().into_owned())
                        .map(Into::into)
                        .map_err(run)
                })
                .collect::<Result<_>>()?;
            let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            let outputs = session.run(values.as_slice()).map_err(run)?;
            let mut result = Vec::with_capacity(outputs.len());
            for (index, (_, v)) in outputs.iter().enumerate() {
                let arr =
                    v.try_extract_array::<f32>().map_err(|_| EngineError::OutputType { index })?;
                result.push(arr.to_owned());
            }
            Ok(result)
        }

        fn input_shapes(&self) -> &[(String, Vec<Option<usize>>)] {
            &self.declared
        }
    }
}
