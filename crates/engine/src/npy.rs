//! NumPy `.npy` files in and out (float32, C order).

use std::path::Path;

use ndarray_npy::{ReadNpyExt, WriteNpyExt};

use crate::engine::Tensor;
use crate::error::{EngineError, Result};

/// Reads a float32 `.npy` file. Other dtypes give an error naming the dtype found.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let err = |reason: String| EngineError::Npy { path: path.to_path_buf(), reason };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    Tensor::read_npy(std::io::BufReader::new(file)).map_err(|e| {
        err(match e {
            ndarray_npy::ReadNpyError::WrongDescriptor(d) => {
                format!("expected a float32 array ('<f4'), found dtype {d}")
            }
            other => format!("not a readable .npy file: {other}"),
        })
    })
}

/// Writes a float32 `.npy` file.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    let err = |reason: String| EngineError::Npy { path: path.to_path_buf(), reason };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    tensor.write_npy(std::io::BufWriter::new(file)).map_err(|e| err(e.to_string()))
}
