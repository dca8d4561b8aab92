package ops

import "sync"

// waiters wakes long-polls on an operation when it finishes, on this node or
// (through the store) on another.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waiter
}

type waiter struct {
	ch   chan struct{}
	subs int
}

func newWaiters() *waiters { return &waiters{m: map[string]*waiter{}} }

// subscribe returns a channel closed when id is notified, and a function
// that drops the subscription.
func (w *waiters) subscribe(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt, ok := w.m[id]
	if !ok {
		wt = &waiter{ch: make(chan struct{})}
		w.m[id] = wt
	}
	wt.subs++
	return wt.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		wt.subs--
		if wt.subs == 0 && w.m[id] == wt {
			delete(w.m, id)
		}
	}
}

func (w *waiters) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt, ok := w.m[id]; ok {
		close(wt.ch)
		delete(w.m, id)
	}
}
