//! Plain numeric tables from CSV files (e.g. Pokémon base stats), so the
//! same k-means and k selection run on data that never was an image. The
//! first column names the rows; chosen columns become the feature matrix.

use std::path::Path;

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};

/// Selected numeric columns of a CSV file.
#[derive(Debug, Clone)]
pub struct Table {
    /// Each row's value in the first column (its 1-based row number when empty).
    pub row_names: Vec<String>,
    pub columns: Vec<String>,
    /// `rows × columns`.
    pub x: Array2<f32>,
}

/// Read `columns` (matched case-insensitively against the header) of `file`.
pub fn read_csv(file: &Path, columns: &[String]) -> Result<Table> {
    let err = |line: Option<u64>, reason: String| Error::Table {
        path: file.to_path_buf(),
        line,
        reason,
    };
    if columns.is_empty() {
        return Err(Error::InvalidSetting {
            setting: "columns",
            reason: "needs at least one column name".into(),
        });
    }
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| err(None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| err(Some(1), e.to_string()))?
        .clone();
    let idx = column_indices(file, &headers, columns)?;
    let mut row_names = Vec::new();
    let mut data = Vec::new();
    for row in rdr.records() {
        let row = row.map_err(|e| err(e.position().map(|p| p.line()), e.to_string()))?;
        let line = row.position().map(|p| p.line());
        let name = row.get(0).filter(|s| !s.is_empty()).map(str::to_string);
        row_names.push(name.unwrap_or_else(|| (row_names.len() + 1).to_string()));
        for (&i, c) in idx.iter().zip(columns) {
            let cell = row.get(i).unwrap_or("");
            let v: f32 = cell
                .parse()
                .map_err(|_| err(line, format!("column `{c}`: `{cell}` is not a number")))?;
            if !v.is_finite() {
                return Err(err(
                    line,
                    format!("column `{c}`: `{cell}` is not a finite number"),
                ));
            }
            data.push(v);
        }
    }
    if row_names.is_empty() {
        return Err(err(None, "the table has no data rows".into()));
    }
    let x = Array2::from_shape_vec((row_names.len(), columns.len()), data)
        .expect("one value per row and column");
    Ok(Table {
        row_names,
        columns: columns.to_vec(),
        x,
    })
}

/// Position of each of `columns` in `headers` (case-insensitive).
fn column_indices(
    file: &Path,
    headers: &csv::StringRecord,
    columns: &[String],
) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(c))
                .ok_or_else(|| Error::UnknownColumn {
                    path: file.to_path_buf(),
                    column: c.clone(),
                    available: headers.iter().collect::<Vec<_>>().join(", "),
                })
        })
        .collect()
}

/// Per-column mean and standard deviation removed by [`standardize`].
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Scaling {
    /// Map a standardised row back to the original units.
    pub fn restore(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.std)
            .map(|((v, m), s)| v * s + m)
            .collect()
    }
}

/// Scale every column to zero mean and unit variance (constant columns
/// become 0); returns what was removed.
pub fn standardize(x: &mut Array2<f32>) -> Scaling {
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(x.ncols()));
    let std = x.std_axis(Axis(0), 0.0);
    for mut row in x.rows_mut() {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
            *v = if *s > 0.0 { (*v - m) / s } else { 0.0 };
        }
    }
    Scaling {
        mean: mean.to_vec(),
        std: std.iter().map(|&s| if s > 0.0 { s } else { 1.0 }).collect(),
    }
}
