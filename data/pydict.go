package data

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The .npy header is a Python dict literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
//
// parsePyDict reads the subset of Python literal syntax it may contain:
// strings, True/False, tuples of integers and (for structured dtypes, which
// are then rejected) arbitrary bracketed lists.

type pyKind int

const (
	pyString pyKind = iota
	pyBool
	pyTuple
	pyOther
)

type pyValue struct {
	kind pyKind
	str  string // pyString
	b    bool   // pyBool
	ints []int  // pyTuple
	raw  string // source text
}

type pyScanner struct {
	s   string
	pos int
}

func (p *pyScanner) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *pyScanner) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *pyScanner) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("expected %q at offset %d", c, p.pos)
	}
	p.pos++
	return nil
}

func (p *pyScanner) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at offset %d", p.pos)
	}
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at offset %d", p.pos)
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

// skipBalanced skips a bracketed value, honouring nested brackets and strings.
func (p *pyScanner) skipBalanced() error {
	depth := 0
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				p.pos++
				return nil
			}
		case '\'', '"':
			if _, err := p.str(); err != nil {
				return err
			}
			continue
		}
		p.pos++
	}
	return fmt.Errorf("unbalanced brackets")
}

// errTooManyDims is the error of a tuple with more than maxNDim integers; the
// scanner stops at the first integer beyond that limit.
var errTooManyDims = errors.New("too many dimensions")

func (p *pyScanner) value() (pyValue, error) {
	p.skipSpace()
	start := p.pos
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		s, err := p.str()
		return pyValue{kind: pyString, str: s, raw: p.s[start:p.pos]}, err
	case c == '(':
		p.pos++
		var ints []int
		for {
			if p.peek() == ')' {
				p.pos++
				return pyValue{kind: pyTuple, ints: ints, raw: p.s[start:p.pos]}, nil
			}
			b := p.pos
			for p.pos < len(p.s) && (p.s[p.pos] == '-' || p.s[p.pos] == '+' || (p.s[p.pos] >= '0' && p.s[p.pos] <= '9')) {
				p.pos++
			}
			n, err := strconv.Atoi(p.s[b:p.pos])
			if err != nil {
				return pyValue{}, fmt.Errorf("bad integer in shape at offset %d", b)
			}
			if p.pos < len(p.s) && p.s[p.pos] == 'L' { // Python 2 long
				p.pos++
			}
			if len(ints) == maxNDim {
				return pyValue{}, errTooManyDims
			}
			ints = append(ints, n)
			switch p.peek() {
			case ',':
				p.pos++
			case ')':
			default:
				return pyValue{}, fmt.Errorf("expected ',' or ')' in shape at offset %d", p.pos)
			}
		}
	case c == '[' || c == '{':
		err := p.skipBalanced()
		return pyValue{kind: pyOther, raw: p.s[start:p.pos]}, err
	case strings.HasPrefix(p.s[p.pos:], "True"):
		p.pos += 4
		return pyValue{kind: pyBool, b: true, raw: "True"}, nil
	case strings.HasPrefix(p.s[p.pos:], "False"):
		p.pos += 5
		return pyValue{kind: pyBool, raw: "False"}, nil
	}
	return pyValue{}, fmt.Errorf("unexpected value at offset %d", p.pos)
}

func parsePyDict(s string) (map[string]pyValue, error) {
	p := &pyScanner{s: s}
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	d := map[string]pyValue{}
	for {
		if p.peek() == '}' {
			p.pos++
			break
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := d[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		d[k] = v
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			return nil, fmt.Errorf("expected ',' or '}' at offset %d", p.pos)
		}
	}
	if rest := strings.Trim(p.s[p.pos:], " \t\r\n\x00"); rest != "" {
		return nil, fmt.Errorf("trailing text after the dict")
	}
	return d, nil
}
