//! What is measured next, besides the policy's own choice: the points a user
//! added (first, in order), the policy candidates a user moved up (next), and
//! the Latin-hypercube seeds that start a session.

use std::collections::VecDeque;

/// A survey pixel, (row, col).
pub type Pixel = (u32, u32);

/// The user's part of the acquisition queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    /// Added by the user: measured first, in order.
    manual: VecDeque<Pixel>,
    /// Policy candidates the user moved up: measured after the manual points.
    pinned: VecDeque<Pixel>,
}

/// Where a dropped point was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Manual,
    Pinned,
    /// Not in the user's queue: a policy candidate, never to be measured.
    Candidate,
}

impl Queue {
    pub fn add_manual(&mut self, at: Pixel) {
        self.manual.push_back(at);
    }

    /// Takes a point out of the queue, wherever it is.
    pub fn drop_point(&mut self, at: Pixel) -> Dropped {
        if let Some(i) = self.manual.iter().position(|p| *p == at) {
            self.manual.remove(i);
            Dropped::Manual
        } else if let Some(i) = self.pinned.iter().position(|p| *p == at) {
            self.pinned.remove(i);
            Dropped::Pinned
        } else {
            Dropped::Candidate
        }
    }

    /// Moves a queued point one place earlier; a policy candidate not yet in
    /// the queue is pinned after the others.
    pub fn move_up(&mut self, at: Pixel) {
        for list in [&mut self.manual, &mut self.pinned] {
            if let Some(i) = list.iter().position(|p| *p == at) {
                if i > 0 {
                    list.swap(i, i - 1);
                }
                return;
            }
        }
        self.pinned.push_back(at);
    }

    pub fn next_manual(&mut self) -> Option<Pixel> {
        self.manual.pop_front()
    }

    /// The next pinned point that `open` still allows (one measured meanwhile
    /// is passed over).
    pub fn next_pinned(&mut self, open: impl Fn(Pixel) -> bool) -> Option<Pixel> {
        while let Some(at) = self.pinned.pop_front() {
            if open(at) {
                return Some(at);
            }
        }
        None
    }

    pub fn manual(&self) -> impl Iterator<Item = &Pixel> {
        self.manual.iter()
    }

    pub fn pinned(&self) -> impl Iterator<Item = &Pixel> {
        self.pinned.iter()
    }

    pub fn is_pinned(&self, at: Pixel) -> bool {
        self.pinned.contains(&at)
    }
}

/// The seed points of a session, as candidate indices in the order they are
/// measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeds(Vec<usize>);

impl Seeds {
    pub fn new(candidates: Vec<usize>) -> Self {
        Self(candidates)
    }

    /// The next seed to measure, while fewer than all of them are measured:
    /// the first that is not `taken`.
    pub fn next(&self, measured: usize, taken: &[bool]) -> Option<usize> {
        if measured >= self.0.len() {
            return None;
        }
        self.0.iter().copied().find(|&k| !taken[k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_points_come_in_order_and_pinned_ones_after() {
        let mut q = Queue::default();
        q.add_manual((1, 1));
        q.add_manual((2, 2));
        q.move_up((9, 9));
        q.move_up((8, 8));
        assert_eq!(q.next_manual(), Some((1, 1)));
        assert_eq!(q.next_manual(), Some((2, 2)));
        assert_eq!(q.next_manual(), None);
        assert_eq!(q.next_pinned(|_| true), Some((9, 9)));
        assert_eq!(q.next_pinned(|_| true), Some((8, 8)));
        assert_eq!(q.next_pinned(|_| true), None);
    }

    #[test]
    fn moving_up_swaps_within_its_list_and_pins_a_candidate_once() {
        let mut q = Queue::default();
        for p in [(1, 1), (2, 2), (3, 3)] {
            q.add_manual(p);
        }
        q.move_up((3, 3));
        assert_eq!(q.manual().copied().collect::<Vec<_>>(), [(1, 1), (3, 3), (2, 2)]);
        q.move_up((1, 1));
        assert_eq!(q.manual().next(), Some(&(1, 1)), "the first stays first");
        q.move_up((7, 7));
        q.move_up((6, 6));
        q.move_up((6, 6));
        assert_eq!(q.pinned().copied().collect::<Vec<_>>(), [(6, 6), (7, 7)]);
        assert!(q.is_pinned((7, 7)));
    }

    #[test]
    fn dropping_says_where_the_point_was() {
        let mut q = Queue::default();
        q.add_manual((1, 1));
        q.move_up((2, 2));
        assert_eq!(q.drop_point((2, 2)), Dropped::Pinned);
        assert_eq!(q.drop_point((1, 1)), Dropped::Manual);
        assert_eq!(q.drop_point((1, 1)), Dropped::Candidate);
        assert_eq!(q, Queue::default());
    }

    #[test]
    fn a_pinned_point_measured_meanwhile_is_passed_over() {
        let mut q = Queue::default();
        q.move_up((1, 1));
        q.move_up((2, 2));
        assert_eq!(q.next_pinned(|p| p != (1, 1)), Some((2, 2)));
    }

    #[test]
    fn seeds_go_in_order_skip_the_taken_and_stop_once_all_are_measured() {
        let seeds = Seeds::new(vec![4, 2, 7]);
        let mut taken = vec![false; 8];
        assert_eq!(seeds.next(0, &taken), Some(4));
        taken[4] = true;
        assert_eq!(seeds.next(1, &taken), Some(2));
        taken[2] = true;
        taken[7] = true;
        assert_eq!(seeds.next(2, &taken), None, "every seed taken");
        taken[7] = false;
        assert_eq!(seeds.next(3, &taken), None, "as many measured as there are seeds");
    }
}
