//! Gwyddion's native file format (`.gwy`), written from its published
//! description (user guide, "Format of Gwyddion Files") and checked against
//! the reference readers (the `gwyfile` package, Gwyddion itself).
//!
//! A file is the magic `GWYP` and one serialised object; an object is its
//! type name (NUL-terminated), the byte size of its components (u32), and
//! the components, each a name (NUL-terminated), a type character and a
//! value. Everything little-endian, nothing padded. Written by hand because
//! no Rust crate writes the format; it is small.
//!
//! Gwyddion's rules that shape what is written: values in base SI with bare
//! units (a prefix in a unit string is dropped on load, not applied), no
//! zero-length array (the component is left out instead), finite doubles
//! only, keys of the top container printable ASCII without spaces.

/// One component of an object: its bytes, name included.
#[derive(Debug, Clone, PartialEq)]
pub struct Component(Vec<u8>);

fn name_bytes(out: &mut Vec<u8>, name: &str) {
    debug_assert!(!name.contains('\0'));
    out.extend_from_slice(name.replace('\0', " ").as_bytes());
    out.push(0);
}

impl Component {
    fn head(name: &str, kind: u8) -> Vec<u8> {
        let mut out = Vec::new();
        name_bytes(&mut out, name);
        out.push(kind);
        out
    }

    pub fn bool(name: &str, v: bool) -> Self {
        let mut out = Self::head(name, b'b');
        out.push(v as u8);
        Self(out)
    }

    pub fn int(name: &str, v: i32) -> Self {
        let mut out = Self::head(name, b'i');
        out.extend_from_slice(&v.to_le_bytes());
        Self(out)
    }

    /// A double; a value that is not finite (which the format forbids) is 0.
    pub fn double(name: &str, v: f64) -> Self {
        let mut out = Self::head(name, b'd');
        out.extend_from_slice(&finite(v).to_le_bytes());
        Self(out)
    }

    pub fn string(name: &str, v: &str) -> Self {
        let mut out = Self::head(name, b's');
        name_bytes(&mut out, v);
        Self(out)
    }

    pub fn object(name: &str, object: &Object) -> Self {
        let mut out = Self::head(name, b'o');
        out.extend_from_slice(&object.0);
        Self(out)
    }

    /// A double array, or `None` for an empty one (Gwyddion refuses those:
    /// leave the component out).
    pub fn doubles(name: &str, values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut out = Self::head(name, b'D');
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for v in values {
            out.extend_from_slice(&finite(*v).to_le_bytes());
        }
        Some(Self(out))
    }

    pub fn ints(name: &str, values: &[i32]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut out = Self::head(name, b'I');
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Some(Self(out))
    }

    pub fn objects(name: &str, objects: &[Object]) -> Option<Self> {
        if objects.is_empty() {
            return None;
        }
        let mut out = Self::head(name, b'O');
        out.extend_from_slice(&(objects.len() as u32).to_le_bytes());
        for o in objects {
            out.extend_from_slice(&o.0);
        }
        Some(Self(out))
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A serialised object: type name, size, components.
#[derive(Debug, Clone, PartialEq)]
pub struct Object(Vec<u8>);

impl Object {
    pub fn new(type_name: &str, components: impl IntoIterator<Item = Component>) -> Self {
        let body: Vec<u8> = components.into_iter().flat_map(|c| c.0).collect();
        let mut out = Vec::with_capacity(type_name.len() + 5 + body.len());
        name_bytes(&mut out, type_name);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        Self(out)
    }

    /// A unit in base SI (`m`, `A`, `V`; "" for none).
    pub fn si_unit(unit: &str) -> Self {
        Self::new("GwySIUnit", [Component::string("unitstr", unit)])
    }

    /// An image channel: `data` row-major, row 0 at the top, in `unit_z`;
    /// `real` and `offset` in metres.
    pub fn data_field(
        (xres, yres): (usize, usize),
        (xreal_m, yreal_m): (f64, f64),
        (xoff_m, yoff_m): (f64, f64),
        unit_z: &str,
        data: &[f64],
    ) -> Self {
        debug_assert_eq!(data.len(), xres * yres);
        let mut c = vec![
            Component::int("xres", xres as i32),
            Component::int("yres", yres as i32),
            Component::double("xreal", xreal_m),
            Component::double("yreal", yreal_m),
            Component::double("xoff", xoff_m),
            Component::double("yoff", yoff_m),
            Component::object("si_unit_xy", &Self::si_unit("m")),
            Component::object("si_unit_z", &Self::si_unit(unit_z)),
        ];
        c.extend(Component::doubles("data", data));
        Self::new("GwyDataField", c)
    }

    /// One curve sampled evenly: sample i at `off + i·step` (`real` is
    /// `res · step`, as Gwyddion counts it).
    pub fn data_line(off: f64, step: f64, unit_x: &str, unit_y: &str, data: &[f64]) -> Self {
        let mut c = vec![
            Component::int("res", data.len() as i32),
            Component::double("real", data.len() as f64 * step),
            Component::double("off", off),
            Component::object("si_unit_x", &Self::si_unit(unit_x)),
            Component::object("si_unit_y", &Self::si_unit(unit_y)),
        ];
        c.extend(Component::doubles("data", data));
        Self::new("GwyDataLine", c)
    }

    /// Point spectra: curve k taken at `coords_m[k]` (metres, the images' frame).
    pub fn spectra(title: &str, coords_m: &[(f64, f64)], curves: &[Object], labels: (&str, &str)) -> Self {
        debug_assert_eq!(coords_m.len(), curves.len());
        let flat: Vec<f64> = coords_m.iter().flat_map(|(x, y)| [*x, *y]).collect();
        let mut c = vec![
            Component::string("title", title),
            Component::object("si_unit_xy", &Self::si_unit("m")),
        ];
        c.extend(Component::doubles("coords", &flat));
        c.extend(Component::objects("data", curves));
        c.push(Component::string("spec_xlabel", labels.0));
        c.push(Component::string("spec_ylabel", labels.1));
        Self::new("GwySpectra", c)
    }

    /// A container of string values (a channel's metadata).
    pub fn strings(items: &[(String, String)]) -> Self {
        Self::new("GwyContainer", items.iter().map(|(k, v)| Component::string(k, v)))
    }
}

/// A whole `.gwy` file: `GWYP` and the top container, its keys sorted as
/// Gwyddion sorts them.
pub fn file(mut items: Vec<(String, Component)>) -> Vec<u8> {
    items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let top = Object::new("GwyContainer", items.into_iter().map(|(_, c)| c));
    let mut out = b"GWYP".to_vec();
    out.extend_from_slice(&top.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_channel_is_the_documents_213_bytes() {
        // The Gwyddion user guide's layout, byte for byte as Gwyddion writes it
        // (offsets left out: they are 0 there, and Gwyddion omits zero offsets).
        let field = Object::new(
            "GwyDataField",
            [
                Component::int("xres", 2),
                Component::int("yres", 1),
                Component::double("xreal", 2e-6),
                Component::double("yreal", 1e-6),
                Component::object("si_unit_xy", &Object::si_unit("m")),
                Component::object("si_unit_z", &Object::si_unit("m")),
                Component::doubles("data", &[1.0, 2.0]).unwrap(),
            ],
        );
        let bytes = file(vec![
            ("/0/data".into(), Component::object("/0/data", &field)),
            ("/0/data/title".into(), Component::string("/0/data/title", "Z")),
        ]);
        assert_eq!(bytes.len(), 213);
        assert_eq!(&bytes[..4], b"GWYP");
        assert_eq!(&bytes[4..17], b"GwyContainer\0");
        assert_eq!(u32::from_le_bytes(bytes[17..21].try_into().unwrap()), 192);
        assert_eq!(&bytes[30..43], b"GwyDataField\0");
        assert_eq!(u32::from_le_bytes(bytes[43..47].try_into().unwrap()), 149);
    }

    #[test]
    fn empty_arrays_are_left_out_and_non_finite_values_become_zero() {
        assert!(Component::doubles("data", &[]).is_none());
        let c = Component::double("x", f64::NAN);
        assert_eq!(&c.0[c.0.len() - 8..], &0f64.to_le_bytes());
    }
}
