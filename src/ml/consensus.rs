//! One clustering from several: evidence accumulation (Fred & Jain, 2005).
//! Two locations belong together as often as the trainings put them in the
//! same cluster; average linkage on that co-association then cuts the
//! locations into k groups.
//!
//! Why: one dual VAE's clusters move with its training seed (on one
//! simulated film the ARI against the motifs ranged 0.21–0.65 over four
//! seeds), while which locations stay together across seeds is what the data,
//! not the seed, decides. Restarting only the mixture on one map did not help
//! (0.398 against 0.399 on ten films); different trainings did (docs/RESULTS.md).
//! The linkage is kodama's (Müllner's algorithms, O(n²) memory); the cut
//! and the co-association are a few lines each.

use crate::ml::cluster::adjusted_rand_index;

use kodama::{Dendrogram, Method, linkage};

/// How the consensus decides its number of clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KChoice {
    /// This many.
    Fixed(usize),
    /// The median of the trainings' own choices ([`median_k`]).
    Median,
    /// Of these, the k whose clusters live longest in the co-association's
    /// tree: the widest range of cut heights that gives k groups (Fred &
    /// Jain's own rule).
    Lifetime(std::ops::RangeInclusive<usize>),
    /// Of these, the k whose consensus agrees best with the trainings
    /// (mean adjusted Rand index with each): the partition that sits in the
    /// middle of theirs (Strehl & Ghosh's "median partition").
    Agreement(std::ops::RangeInclusive<usize>),
}

/// The average-linkage tree of the locations' co-association: two locations
/// are as far apart as the share of trainings that split them.
pub struct Tree {
    n: usize,
    dendrogram: Dendrogram<f64>,
}

impl Tree {
    /// The tree of `labelings` (each one label per location, any numbering);
    /// `None` without locations.
    pub fn of(labelings: &[Vec<usize>]) -> Option<Self> {
        let n = labelings.first().map_or(0, Vec::len);
        if n == 0 {
            return None;
        }
        let runs = labelings.len() as f64;
        // Condensed upper triangle, row by row: how often i and j were apart.
        let mut apart = Vec::with_capacity(n * (n - 1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                let together = labelings.iter().filter(|l| l[i] == l[j]).count() as f64;
                apart.push(1.0 - together / runs);
            }
        }
        Some(Self {
            n,
            dendrogram: linkage(&mut apart, n, Method::Average),
        })
    }

    /// The locations in `k` groups (clamped to 1 ..= n), numbered by size,
    /// largest first (ties: first seen first).
    pub fn cut(&self, k: usize) -> Vec<usize> {
        let n = self.n;
        let k = k.clamp(1, n);
        // Replay the n − k closest merges with a union–find over the locations.
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        // A merged cluster's label n + s stands for any one of its locations.
        let mut member: Vec<usize> = (0..n).collect();
        for step in &self.dendrogram.steps()[..n - k] {
            let (a, b) = (member[step.cluster1], member[step.cluster2]);
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[rb] = ra;
            member.push(ra);
        }
        let roots: Vec<usize> = (0..n).map(|i| find(&mut parent, i)).collect();
        let mut groups: Vec<(usize, usize)> = Vec::new(); // (root, size) by first sight
        for r in &roots {
            match groups.iter_mut().find(|(g, _)| g == r) {
                Some((_, size)) => *size += 1,
                None => groups.push((*r, 1)),
            }
        }
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.sort_by_key(|&g| std::cmp::Reverse(groups[g].1)); // stable: ties keep first sight
        roots
            .iter()
            .map(|r| {
                let g = groups
                    .iter()
                    .position(|(root, _)| root == r)
                    .expect("every root is a group");
                order.iter().position(|&o| o == g).expect("every group is ordered")
            })
            .collect()
    }

    /// How long `k` groups live: the cut heights (shares of trainings) over
    /// which the tree holds exactly k, from the merge that makes k to the one
    /// that ends it. 0 outside 2 ..= n.
    pub fn lifetime(&self, k: usize) -> f64 {
        if k < 2 || k > self.n {
            return 0.0;
        }
        let steps = self.dendrogram.steps();
        let born = if k == self.n {
            0.0
        } else {
            steps[self.n - k - 1].dissimilarity
        };
        steps[self.n - k].dissimilarity - born
    }
}

/// The consensus of `labelings` (each one label per location, any numbering)
/// with its number of clusters, numbered by size, largest first (ties: first
/// seen first). `ks` are the trainings' own choices ([`KChoice::Median`]).
/// No labelings (or empty ones) give no labels.
pub fn consensus_k(labelings: &[Vec<usize>], choice: &KChoice, ks: &[usize]) -> (Vec<usize>, usize) {
    let Some(tree) = Tree::of(labelings) else {
        return (Vec::new(), 0);
    };
    let within = |range: &std::ops::RangeInclusive<usize>| (*range.start()).max(1)..=(*range.end()).min(tree.n);
    let k = match choice {
        KChoice::Fixed(k) => *k,
        KChoice::Median => median_k(ks),
        // Ties go to the fewer clusters.
        KChoice::Lifetime(range) => within(range)
            .rev()
            .max_by(|a, b| tree.lifetime(*a).total_cmp(&tree.lifetime(*b)))
            .unwrap_or(1),
        KChoice::Agreement(range) => within(range)
            .map(|k| {
                let cut = tree.cut(k);
                let agree = labelings.iter().map(|l| adjusted_rand_index(&cut, l)).sum::<f64>();
                (k, agree / labelings.len() as f64)
            })
            .rev()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(1, |(k, _)| k),
    }
    .clamp(1, tree.n);
    (tree.cut(k), k)
}

/// The consensus of `labelings` in `k` clusters ([`consensus_k`] with `k` fixed).
pub fn consensus(labelings: &[Vec<usize>], k: usize) -> Vec<usize> {
    consensus_k(labelings, &KChoice::Fixed(k), &[]).0
}

/// [`consensus_k`] of at most `at_most` locations spread evenly over them
/// (every (n / at_most)-th), then every other location joins the group whose
/// spread members the trainings put it with most often, on average (ties:
/// the lower group). The co-association of every pair is O(n²) in time and
/// memory (400 MB at 10 000 locations) and the linkage grows faster; this is
/// O(n · at_most · trainings). Up to `at_most` locations it is
/// [`consensus_k`].
pub fn consensus_on_spread(
    labelings: &[Vec<usize>],
    choice: &KChoice,
    ks: &[usize],
    at_most: usize,
) -> (Vec<usize>, usize) {
    let n = labelings.first().map_or(0, Vec::len);
    if at_most == 0 || n <= at_most {
        return consensus_k(labelings, choice, ks);
    }
    let spread: Vec<usize> = (0..at_most).map(|i| i * n / at_most).collect();
    let of_spread: Vec<Vec<usize>> = labelings
        .iter()
        .map(|l| spread.iter().map(|&i| l[i]).collect())
        .collect();
    let (groups, k) = consensus_k(&of_spread, choice, ks);
    let count = groups.iter().copied().max().map_or(0, |g| g + 1);
    let mut size = vec![0usize; count];
    for &g in &groups {
        size[g] += 1;
    }
    let mut labels: Vec<usize> = (0..n)
        .map(|i| {
            let mut together = vec![0usize; count];
            for (&j, &g) in spread.iter().zip(&groups) {
                together[g] += labelings.iter().filter(|l| l[i] == l[j]).count();
            }
            (0..count)
                .max_by(|&a, &b| {
                    let (ta, tb) = (together[a] * size[b], together[b] * size[a]);
                    ta.cmp(&tb).then(b.cmp(&a))
                })
                .unwrap_or(0)
        })
        .collect();
    for (&j, &g) in spread.iter().zip(&groups) {
        labels[j] = g;
    }
    (labels, k)
}

/// The number of clusters the trainings agree on: the median of their own
/// choices (the upper one of an even count, so a tie leans to more detail).
pub fn median_k(ks: &[usize]) -> usize {
    let mut ks = ks.to_vec();
    ks.sort_unstable();
    ks.get(ks.len() / 2).copied().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreeing_labelings_give_themselves_back_in_any_numbering() {
        let a = vec![0, 0, 1, 1, 2, 2, 2];
        let b = vec![5, 5, 3, 3, 9, 9, 9];
        let c = consensus(&[a.clone(), b], 3);
        assert_eq!(adjusted_rand_index(&c, &a), 1.0);
        // Numbered by size, largest first.
        assert_eq!(c, vec![1, 1, 2, 2, 0, 0, 0]);
    }

    #[test]
    fn the_majority_wins_over_one_dissenting_training() {
        // Truth: {0,1,2} {3,4,5}. The first training moves 2 over; two agree.
        let truth = vec![0, 0, 0, 1, 1, 1];
        let runs = vec![vec![0, 0, 1, 1, 1, 1], vec![0, 0, 0, 1, 1, 1], vec![1, 1, 1, 0, 0, 0]];
        assert!(adjusted_rand_index(&runs[0], &truth) < 1.0);
        assert_eq!(adjusted_rand_index(&consensus(&runs, 2), &truth), 1.0);
    }

    #[test]
    fn a_location_that_wanders_joins_the_group_it_sits_with_most() {
        // Location 4 sits with {0..3} in three of four trainings.
        let runs = vec![
            vec![0, 0, 0, 0, 1, 1, 1, 1],
            vec![0, 0, 0, 0, 0, 1, 1, 1],
            vec![2, 2, 2, 2, 2, 7, 7, 7],
            vec![0, 0, 0, 0, 0, 1, 1, 1],
        ];
        let c = consensus(&runs, 2);
        assert_eq!(c[4], c[0]);
        assert_ne!(c[4], c[5]);
    }

    #[test]
    fn a_consensus_of_a_spread_places_every_location() {
        // Three groups of 30 locations in a row; three trainings agree but for
        // one that splits the last group, and one location that wanders.
        let truth: Vec<usize> = (0..90).map(|i| i / 30).collect();
        let mut runs = vec![
            truth.clone(),
            truth.clone(),
            truth
                .iter()
                .enumerate()
                .map(|(i, &g)| if g == 2 && i % 2 == 0 { 3 } else { g })
                .collect(),
        ];
        runs[0][45] = 0;
        let (spread, k) = consensus_on_spread(&runs, &KChoice::Fixed(3), &[], 20);
        assert_eq!((spread.len(), k), (90, 3));
        assert_eq!(adjusted_rand_index(&spread, &truth), 1.0);
        // Up to the limit it is `consensus`.
        assert_eq!(
            consensus_on_spread(&runs, &KChoice::Fixed(3), &[], 90).0,
            consensus(&runs, 3)
        );
    }

    #[test]
    fn k_is_clamped_and_empty_input_is_empty() {
        assert!(consensus(&[], 3).is_empty());
        assert_eq!(consensus(&[vec![0, 1, 2]], 10), vec![0, 1, 2]);
        assert_eq!(consensus(&[vec![0, 1, 2]], 0), vec![0, 0, 0]);
    }

    /// Three groups of ten; half the trainings split the third group, each
    /// its own way, and one joins the first two: the median of their choices
    /// says 4, while the tree's longest-lived cut and the partition that
    /// agrees best with them all say 3.
    #[test]
    fn lifetime_and_agreement_find_the_groups_the_median_of_k_misses() {
        let truth: Vec<usize> = (0..30).map(|i| i / 10).collect();
        let split = |third: &dyn Fn(usize) -> bool| -> Vec<usize> {
            (0..30).map(|i| if i >= 20 && third(i) { 3 } else { i / 10 }).collect()
        };
        let runs = vec![
            truth.clone(),
            truth.clone(),
            (0..30).map(|i| if i < 20 { 0 } else { 1 }).collect(),
            split(&|i| i >= 25),
            split(&|i| i % 2 == 0),
            split(&|i| i < 23),
        ];
        let ks = [3, 3, 2, 4, 4, 4];
        assert_eq!(consensus_k(&runs, &KChoice::Median, &ks).1, 4);
        for choice in [KChoice::Lifetime(2..=8), KChoice::Agreement(2..=8)] {
            let (labels, k) = consensus_k(&runs, &choice, &ks);
            assert_eq!(k, 3, "{choice:?}");
            assert_eq!(adjusted_rand_index(&labels, &truth), 1.0, "{choice:?}");
        }
        // The range bounds the choice.
        assert_eq!(consensus_k(&runs, &KChoice::Lifetime(2..=2), &ks).1, 2);
        assert_eq!(consensus_k(&runs, &KChoice::Agreement(4..=5), &ks).1, 4);
        let tree = Tree::of(&runs).unwrap();
        assert!(tree.lifetime(3) > tree.lifetime(2) && tree.lifetime(3) > tree.lifetime(4));
        assert_eq!((tree.lifetime(1), tree.lifetime(31)), (0.0, 0.0));
    }

    #[test]
    fn median_k_leans_up_on_a_tie() {
        assert_eq!(median_k(&[3, 5, 4, 4]), 4);
        assert_eq!(median_k(&[3, 4]), 4);
        assert_eq!(median_k(&[2]), 2);
        assert_eq!(median_k(&[]), 1);
    }
}
