import {
  GitAddRequest,
  GitBranchRequest,
  GitCheckoutRequest,
  GitCloneRequest,
  GitCommitRequest,
  GitRepoRequest,
} from '@shoal/contracts';
import { requiredQuery, type Router } from '../http/router.js';
import type { GitService } from '../git/git.service.js';

export function registerGitRoutes(router: Router, git: GitService): void {
  router.add({
    method: 'POST',
    path: '/git/clone',
    operation: 'gitCloneRepository',
    body: GitCloneRequest,
    handler: async ({ body }) => {
      await git.clone(body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'GET',
    path: '/git/status',
    operation: 'gitGetStatus',
    handler: async ({ query }) => ({ status: 200, json: await git.status(requiredQuery(query, 'path')) }),
  });

  router.add({
    method: 'POST',
    path: '/git/add',
    operation: 'gitAddFiles',
    body: GitAddRequest,
    handler: async ({ body }) => {
      await git.add(body.path, body.files);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/git/commit',
    operation: 'gitCommitChanges',
    body: GitCommitRequest,
    handler: async ({ body }) => ({ status: 200, json: { hash: await git.commit(body) } }),
  });

  router.add({
    method: 'GET',
    path: '/git/branches',
    operation: 'gitListBranches',
    handler: async ({ query }) => ({ status: 200, json: { branches: await git.branches(requiredQuery(query, 'path')) } }),
  });

  router.add({
    method: 'POST',
    path: '/git/branches',
    operation: 'gitCreateBranch',
    body: GitBranchRequest,
    handler: async ({ body }) => {
      await git.createBranch(body.path, body.name);
      return { status: 201 };
    },
  });

  router.add({
    method: 'DELETE',
    path: '/git/branches',
    operation: 'gitDeleteBranch',
    body: GitBranchRequest,
    handler: async ({ body }) => {
      await git.deleteBranch(body.path, body.name);
      return { status: 204 };
    },
  });

  router.add({
    method: 'POST',
    path: '/git/checkout',
    operation: 'gitCheckoutBranch',
    body: GitCheckoutRequest,
    handler: async ({ body }) => {
      await git.checkout(body.path, body.branch);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/git/pull',
    operation: 'gitPullChanges',
    body: GitRepoRequest,
    handler: async ({ body }) => {
      await git.pull(body.path, body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/git/push',
    operation: 'gitPushChanges',
    body: GitRepoRequest,
    handler: async ({ body }) => {
      await git.push(body.path, body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'GET',
    path: '/git/history',
    operation: 'gitGetHistory',
    handler: async ({ query }) => ({ status: 200, json: await git.history(requiredQuery(query, 'path')) }),
  });
}
