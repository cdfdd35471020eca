package load

import (
	"math/rand/v2"
	"strconv"
)

// maxDrawsPerDomain bounds how often a counter redraws a domain it already holds. With a
// skewed distribution the busiest domains come up again and again; after this many draws the
// duplicate is kept and the gateway adds the two counts, which is still valid input.
const maxDrawsPerDomain = 16

// bodyGen writes request bodies of counters whose domains follow a Zipf distribution. Each
// worker owns one; it is not safe for concurrent use.
type bodyGen struct {
	batch   int
	perCtr  int
	prefix  string
	rng     *rand.Rand
	zipf    *rand.Zipf
	picked  []uint64
	nPicked int
}

func newBodyGen(c Config, stream uint64) *bodyGen {
	rng := rand.New(rand.NewPCG(c.Seed, stream))
	return &bodyGen{
		batch:  c.Batch,
		perCtr: c.DomainsPerCounter,
		prefix: c.DomainPrefix,
		rng:    rng,
		zipf:   rand.NewZipf(rng, c.ZipfS, c.ZipfV, uint64(c.Domains-1)),
		picked: make([]uint64, c.DomainsPerCounter),
	}
}

// appendDomain appends the name of the domain of the given rank, e.g. "lg-42.example.com".
func appendDomain(dst []byte, prefix string, rank uint64) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, rank, 10)
	return append(dst, ".example.com"...)
}

// appendBody appends one request body with timestamp ts to dst: a single counter object when
// the batch is 1, an array of counters otherwise. It returns the body and the number of
// (counter, domain) records in it.
func (g *bodyGen) appendBody(dst []byte, ts int64) ([]byte, int) {
	records := 0
	if g.batch > 1 {
		dst = append(dst, '[')
	}
	for i := range g.batch {
		if i > 0 {
			dst = append(dst, ',')
		}
		var n int
		dst, n = g.appendCounter(dst, ts)
		records += n
	}
	if g.batch > 1 {
		dst = append(dst, ']')
	}
	return dst, records
}

// appendCounter appends one counter object and returns how many distinct domains it names.
func (g *bodyGen) appendCounter(dst []byte, ts int64) ([]byte, int) {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	g.nPicked = 0
	distinct := 0
	for range g.perCtr {
		rank, fresh := g.draw()
		if fresh {
			distinct++
		}
		dst = append(dst, `,"`...)
		dst = appendDomain(dst, g.prefix, rank)
		dst = append(dst, `":`...)
		dst = strconv.AppendUint(dst, 1+g.rng.Uint64N(9), 10)
	}
	return append(dst, '}'), distinct
}

// draw returns a domain rank not yet in the current counter when it finds one within
// maxDrawsPerDomain tries, and whether it is new to the counter.
func (g *bodyGen) draw() (uint64, bool) {
	var rank uint64
	for range maxDrawsPerDomain {
		rank = g.zipf.Uint64()
		if !g.holds(rank) {
			g.picked[g.nPicked] = rank
			g.nPicked++
			return rank, true
		}
	}
	return rank, false
}

func (g *bodyGen) holds(rank uint64) bool {
	for _, r := range g.picked[:g.nPicked] {
		if r == rank {
			return true
		}
	}
	return false
}
