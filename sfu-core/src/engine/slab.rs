//! A generational slab: O(1) lookup by handle, slots reused after removal, and a stale
//! handle (to a removed entry whose slot was reused) finds nothing instead of the new entry.
//! Keys pack the slot index (low 32 bits) and the slot's generation (high 32 bits).

#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

fn split(key: u64) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The key the next `insert` will return.
    pub(crate) fn next_key(&self) -> u64 {
        match self.free.last() {
            Some(&i) => u64::from(self.entries[i as usize].0) << 32 | u64::from(i),
            None => self.entries.len() as u64,
        }
    }

    pub(crate) fn insert(&mut self, v: T) -> u64 {
        match self.free.pop() {
            Some(i) => {
                let e = &mut self.entries[i as usize];
                e.1 = Some(v);
                u64::from(e.0) << 32 | u64::from(i)
            }
            None => {
                self.entries.push((0, Some(v)));
                (self.entries.len() - 1) as u64
            }
        }
    }

    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        let (i, g) = split(key);
        match self.entries.get(i) {
            Some((gen_, Some(v))) if *gen_ == g => Some(v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (i, g) = split(key);
        match self.entries.get_mut(i) {
            Some((gen_, Some(v))) if *gen_ == g => Some(v),
            _ => None,
        }
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let (i, g) = split(key);
        let e = self.entries.get_mut(i)?;
        if e.0 != g || e.1.is_none() {
            return None;
        }
        let v = e.1.take();
        e.0 = e.0.wrapping_add(1);
        self.free.push(i as u32);
        v
    }

    /// Keys of occupied entries, in slot order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| v.is_some())
            .map(|(i, (g, _))| u64::from(*g) << 32 | i as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss_after_reuse() {
        let mut s = Slab::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), Some("a"));
        let c = s.insert("c");
        assert_ne!(a, c);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.keys().collect::<Vec<_>>(), vec![c, b]);
        assert_eq!(s.remove(a), None);
    }
}
