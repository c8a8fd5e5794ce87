#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Differential test: src/template.c (through template_render) against python3-jinja2.

Usage: check.py RENDER_BINARY SOURCE_ROOT

Each tests/template/cases/NAME.j2 (plus files/*.j2) is rendered with every variable set
of NAME.json (a JSON list of objects; no file means one empty set) by jinja2 with the
default Environment and by the C engine. Outputs must be byte-identical. When jinja2
raises while rendering, the C side must fail to render too (exit 3); when jinja2 cannot
compile the template, the C side must fail to compile (exit 2). Templates named bad_*.j2
exist to fail compiling, so they must fail in both.
"""
import json
import os
import subprocess
import sys
import tempfile

import jinja2

COMPILE_ERR, RENDER_ERR = 2, 3


def jinja_render(source, variables):
    """('ok', bytes) / ('compile', msg) / ('render', msg), as jinja2 sees it."""
    env = jinja2.Environment()
    try:
        tmpl = env.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        return 'compile', str(e)
    except jinja2.TemplateAssertionError as e:
        return 'compile', str(e)
    try:
        return 'ok', tmpl.render(**variables).encode('utf-8')
    except Exception as e:  # any exception jinja2 raises while rendering
        return 'render', f'{type(e).__name__}: {e}'


def c_render(binary, template_path, variables):
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        json.dump(variables, f)
        vars_path = f.name
    try:
        p = subprocess.run([binary, template_path, vars_path], capture_output=True, timeout=30)
    finally:
        os.unlink(vars_path)
    if p.returncode == 0:
        return 'ok', p.stdout
    if p.returncode == COMPILE_ERR:
        return 'compile', p.stderr.decode(errors='replace').strip()
    if p.returncode == RENDER_ERR:
        return 'render', p.stderr.decode(errors='replace').strip()
    return f'exit {p.returncode}', p.stderr.decode(errors='replace').strip()


def cases(root):
    here = os.path.join(root, 'tests', 'template', 'cases')
    for name in sorted(os.listdir(here)):
        if name.endswith('.j2'):
            base = name[:-3]
            yield base, os.path.join(here, name), os.path.join(here, base + '.json')
    for name in ('change_notification', 'expiry_notification'):
        yield ('files/' + name, os.path.join(root, 'files', name + '.j2'),
               os.path.join(here, 'files_' + name + '.json'))


def main():
    binary, root = sys.argv[1], sys.argv[2]
    templates = runs = failures = 0
    for base, path, vars_path in cases(root):
        templates += 1
        with open(path, encoding='utf-8', newline='') as f:
            source = f.read()
        varsets = [{}]
        if os.path.exists(vars_path):
            with open(vars_path, encoding='utf-8') as f:
                varsets = json.load(f)
        for i, variables in enumerate(varsets):
            runs += 1
            want = jinja_render(source, variables)
            got = c_render(binary, path, variables)
            problem = None
            if os.path.basename(base).startswith('bad_') and want[0] != 'compile':
                problem = 'jinja2 compiles a bad_ template'
            elif want[0] != got[0]:
                problem = f'jinja2 says {want[0]}, C says {got[0]}'
            elif want[0] == 'ok' and want[1] != got[1]:
                problem = 'outputs differ'
            if problem:
                failures += 1
                print(f'FAIL {base} [vars #{i}]: {problem}')
                print(f'  jinja2: {want[1]!r}')
                print(f'  C:      {got[1]!r}')
            elif want[0] != 'ok':
                print(f'ok   {base} [vars #{i}]: both {want[0]} error')
            else:
                print(f'ok   {base} [vars #{i}]: {len(want[1])} bytes')
    print(f'{templates} templates, {runs} renders, {runs - failures} agree, {failures} differ')
    return 1 if failures or runs == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
