package emulator

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// parseGroupFilter compiles the small part of OData $filter that clients use on GET groups:
// comparisons (eq, ne) and contains/startswith/endswith on name, id and capacityId, eq/ne on the
// boolean isOnDedicatedCapacity and isReadOnly, combined with and, or, not and parentheses.
// String literals are single-quoted with ” for a quote. Comparisons ignore case, as workspace
// names are unique regardless of case.
func parseGroupFilter(src string) (func(*workspace) bool, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return f, nil
}

type filterToken struct {
	text    string
	literal bool // a quoted string
}

func lexFilter(src string) ([]filterToken, error) {
	var toks []filterToken
	rs := []rune(src)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')' || r == ',':
			toks = append(toks, filterToken{text: string(r)})
			i++
		case r == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(rs) {
					return nil, errors.New("unterminated string literal")
				}
				if rs[i] == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						b.WriteRune('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			toks = append(toks, filterToken{text: b.String(), literal: true})
		case unicode.IsLetter(r) || r == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '/') {
				j++
			}
			toks = append(toks, filterToken{text: string(rs[i:j])})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", r)
		}
	}
	return toks, nil
}

type filterParser struct {
	toks []filterToken
	pos  int
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && !p.toks[p.pos].literal && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser) expect(w string) error {
	if !p.peekWord(w) {
		if p.pos >= len(p.toks) {
			return fmt.Errorf("expected %q at the end", w)
		}
		return fmt.Errorf("expected %q, found %q", w, p.toks[p.pos].text)
	}
	p.pos++
	return nil
}

func (p *filterParser) or() (func(*workspace) bool, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.pos++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(ws *workspace) bool { return l(ws) || right(ws) }
	}
	return left, nil
}

func (p *filterParser) and() (func(*workspace) bool, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.pos++
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(ws *workspace) bool { return l(ws) && right(ws) }
	}
	return left, nil
}

func (p *filterParser) unary() (func(*workspace) bool, error) {
	switch {
	case p.peekWord("not"):
		p.pos++
		f, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(ws *workspace) bool { return !f(ws) }, nil
	case p.peekWord("("):
		p.pos++
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		return f, p.expect(")")
	}
	for _, fn := range []string{"contains", "startswith", "endswith"} {
		if p.peekWord(fn) {
			p.pos++
			return p.call(fn)
		}
	}
	return p.comparison()
}

func (p *filterParser) call(fn string) (func(*workspace) bool, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	get, err := p.stringField()
	if err != nil {
		return nil, err
	}
	if err := p.expect(","); err != nil {
		return nil, err
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	lit = strings.ToLower(lit)
	test := map[string]func(string, string) bool{
		"contains": strings.Contains, "startswith": strings.HasPrefix, "endswith": strings.HasSuffix}[fn]
	return func(ws *workspace) bool { return test(strings.ToLower(get(ws)), lit) }, nil
}

func (p *filterParser) comparison() (func(*workspace) bool, error) {
	if p.pos >= len(p.toks) {
		return nil, errors.New("unexpected end of filter")
	}
	field := p.toks[p.pos].text
	var boolGet func(*workspace) bool
	switch strings.ToLower(field) {
	case "isondedicatedcapacity":
		boolGet = func(ws *workspace) bool { return ws.capacityID != "" }
	case "isreadonly":
		boolGet = func(*workspace) bool { return false }
	}
	var strGet func(*workspace) string
	if boolGet == nil {
		var err error
		if strGet, err = p.stringField(); err != nil {
			return nil, err
		}
	} else {
		p.pos++
	}
	var negate bool
	switch {
	case p.peekWord("eq"):
	case p.peekWord("ne"):
		negate = true
	default:
		return nil, fmt.Errorf("only eq and ne comparisons are supported after %q", field)
	}
	p.pos++
	if boolGet != nil {
		var want bool
		switch {
		case p.peekWord("true"):
			want = true
		case p.peekWord("false"):
		default:
			return nil, fmt.Errorf("%s compares with true or false", field)
		}
		p.pos++
		return func(ws *workspace) bool { return (boolGet(ws) == want) != negate }, nil
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	return func(ws *workspace) bool { return strings.EqualFold(strGet(ws), lit) != negate }, nil
}

func (p *filterParser) stringField() (func(*workspace) string, error) {
	if p.pos >= len(p.toks) || p.toks[p.pos].literal {
		return nil, errors.New("expected a field name")
	}
	f := p.toks[p.pos].text
	p.pos++
	switch strings.ToLower(f) {
	case "name":
		return func(ws *workspace) string { return ws.name }, nil
	case "id":
		return func(ws *workspace) string { return ws.id }, nil
	case "capacityid":
		return func(ws *workspace) string { return ws.capacityID }, nil
	}
	return nil, fmt.Errorf("unsupported field %q (name, id, capacityId, isOnDedicatedCapacity, isReadOnly)", f)
}

func (p *filterParser) literal() (string, error) {
	if p.pos >= len(p.toks) || !p.toks[p.pos].literal {
		return "", errors.New("expected a quoted string")
	}
	p.pos++
	return p.toks[p.pos-1].text, nil
}
