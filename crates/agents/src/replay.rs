//! A ring-buffer replay memory of transitions, sampled uniformly with a seeded generator.

use rand::Rng;

/// One transition `(s, a, r, s', done)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Observation before the action.
    pub state: Vec<f32>,
    /// Action taken (each element in `[0, 1]`).
    pub action: Vec<f32>,
    /// Reward credited to it.
    pub reward: f32,
    /// Observation after the action.
    pub next_state: Vec<f32>,
    /// Whether the episode ended with it.
    pub done: bool,
}

/// A minibatch as flat row-major arrays: `states` is `len × state_dim`, and so on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// Rows of states.
    pub states: Vec<f32>,
    /// Rows of actions.
    pub actions: Vec<f32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Rows of next states.
    pub next_states: Vec<f32>,
    /// `1.0` where the episode ended, else `0.0`.
    pub dones: Vec<f32>,
    /// Transitions in the batch.
    pub len: usize,
}

/// Fixed-capacity replay memory: once full, each new transition replaces the oldest.
#[derive(Debug, Clone)]
pub struct Replay {
    capacity: usize,
    items: Vec<Transition>,
    next: usize,
}

impl Replay {
    /// An empty memory holding at most `capacity` (≥ 1) transitions.
    pub fn new(capacity: usize) -> Replay {
        Replay { capacity: capacity.max(1), items: Vec::new(), next: 0 }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores `t`, replacing the oldest transition when full.
    pub fn push(&mut self, t: Transition) {
        if self.items.len() < self.capacity {
            self.items.push(t);
        } else {
            self.items[self.next] = t;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// `n` transitions drawn uniformly with replacement (empty batch if nothing is held).
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Batch {
        let mut b = Batch::default();
        if self.items.is_empty() {
            return b;
        }
        for _ in 0..n {
            let t = &self.items[rng.random_range(0..self.items.len())];
            b.states.extend_from_slice(&t.state);
            b.actions.extend_from_slice(&t.action);
            b.rewards.push(t.reward);
            b.next_states.extend_from_slice(&t.next_state);
            b.dones.push(if t.done { 1.0 } else { 0.0 });
        }
        b.len = n;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn t(r: f32) -> Transition {
        Transition {
            state: vec![r],
            action: vec![0.5],
            reward: r,
            next_state: vec![r],
            done: false,
        }
    }

    #[test]
    fn the_oldest_is_replaced_and_samples_are_seeded() {
        let mut m = Replay::new(3);
        for r in 0..5 {
            m.push(t(r as f32));
        }
        assert_eq!(m.len(), 3);
        let mut held: Vec<f32> = m.items.iter().map(|x| x.reward).collect();
        held.sort_by(f32::total_cmp);
        assert_eq!(held, vec![2.0, 3.0, 4.0]);
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (x, y) = (m.sample(16, &mut a), m.sample(16, &mut b));
        assert_eq!(x, y);
        assert_eq!((x.len, x.states.len(), x.dones.len()), (16, 16, 16));
        assert_eq!(Replay::new(2).sample(4, &mut a).len, 0);
    }
}
