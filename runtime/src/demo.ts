import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEMO_SLUG = 'gh/roundhouse/demo';

const CONFIG = `version: 2.1

executors:
  base:
    docker:
      - image: cimg/base:stable
    environment:
      GREETING: hello from Roundhouse

jobs:
  build:
    executor: base
    steps:
      - checkout
      - run:
          name: Show what we are building
          command: |
            echo "$GREETING"
            echo "branch=$CIRCLE_BRANCH sha=$CIRCLE_SHA1 build=$CIRCLE_BUILD_NUM"
            git log --oneline -1
      - run:
          name: Build
          command: |
            mkdir -p dist
            for f in src/*.txt; do tr a-z A-Z < "$f" > "dist/$(basename "$f")"; done
            ls -l dist
  test:
    executor: base
    steps:
      - checkout
      - run:
          name: Run the tests
          command: |
            for i in 1 2 3; do echo "test $i ok"; sleep 0.2; done
  lint:
    executor: base
    environment:
      STRICT: "1"
    steps:
      - checkout
      - run: grep -c . src/*.txt
  package:
    machine: true
    steps:
      - checkout
      - run:
          name: Package
          command: tar -czf /tmp/demo.tgz src && ls -l /tmp/demo.tgz

workflows:
  build-test-package:
    jobs:
      - build
      - test:
          requires: [build]
      - lint:
          requires: [build]
      - package:
          requires: [test, lint]
`;

/** Creates the demo git repository (once) and returns its path. */
export function ensureDemoRepo(dataDir: string): string {
  const dir = join(dataDir, 'demo-repo');
  if (existsSync(join(dir, '.git'))) return dir;
  mkdirSync(join(dir, '.circleci'), { recursive: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, '.circleci', 'config.yml'), CONFIG);
  writeFileSync(join(dir, 'src', 'hello.txt'), 'hello\nworld\n');
  writeFileSync(join(dir, 'README.md'), '# Roundhouse demo\n\nA small project whose pipeline runs at first start.\n');
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      stdio: 'ignore',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Roundhouse',
        GIT_AUTHOR_EMAIL: 'demo@roundhouse.invalid',
        GIT_COMMITTER_NAME: 'Roundhouse',
        GIT_COMMITTER_EMAIL: 'demo@roundhouse.invalid',
      },
    });
  git('init', '--quiet', '--initial-branch=main');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'Demo project');
  return dir;
}
