import { BulkDownloadRequest, ReplaceRequest } from '@shoal/contracts';
import { requiredQuery, sendJson, type Router } from '../http/router.js';
import { badRequest, renderUploadErrors } from '../http/errors.js';
import type { FilesService } from '../files/files.service.js';
import { bulkDestination, receiveMultipart, streamBulkDownload, streamDownload } from '../files/transfer.js';

export function registerFileRoutes(router: Router, files: FilesService): void {
  router.add({
    method: 'GET',
    path: '/files',
    operation: 'listFiles',
    handler: async ({ query }) => ({ status: 200, json: await files.list(query.get('path') || '.') }),
  });

  router.add({
    method: 'GET',
    path: '/files/info',
    operation: 'getFileInfo',
    handler: async ({ query }) => ({ status: 200, json: await files.info(requiredQuery(query, 'path')) }),
  });

  router.add({
    method: 'DELETE',
    path: '/files',
    operation: 'deleteFile',
    handler: async ({ query }) => {
      await files.remove(requiredQuery(query, 'path'), query.get('recursive') === 'true');
      return { status: 204 };
    },
  });

  router.add({
    method: 'GET',
    path: '/files/download',
    operation: 'downloadFile',
    handler: async ({ query, res }) => {
      await streamDownload(files, requiredQuery(query, 'path'), res);
      return 'handled';
    },
  });

  router.add({
    method: 'POST',
    path: '/files/bulk-download',
    operation: 'downloadFiles',
    body: BulkDownloadRequest,
    handler: async ({ body, res }) => {
      await streamBulkDownload(files, body.paths, res);
      return 'handled';
    },
  });

  router.add({
    method: 'POST',
    path: '/files/upload',
    operation: 'uploadFile',
    handler: async ({ query, req, res, path }) => {
      const destination = requiredQuery(query, 'path');
      const outcome = await receiveMultipart(files, req, (field) => (field === 'file' ? destination : undefined));
      if (outcome.errors.length === 0 && outcome.written.length === 0) throw badRequest('multipart field "file" is missing');
      if (outcome.errors.length > 0) {
        sendJson(res, 400, renderUploadErrors(400, outcome.errors, path));
        return 'handled';
      }
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/files/bulk-upload',
    operation: 'uploadFiles',
    handler: async ({ req, res, path }) => {
      const outcome = await receiveMultipart(files, req, bulkDestination);
      if (outcome.errors.length > 0) {
        sendJson(res, 400, renderUploadErrors(400, outcome.errors, path));
        return 'handled';
      }
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/files/folder',
    operation: 'createFolder',
    handler: async ({ query }) => {
      await files.createFolder(requiredQuery(query, 'path'), query.get('mode'));
      return { status: 201 };
    },
  });

  router.add({
    method: 'POST',
    path: '/files/move',
    operation: 'moveFile',
    handler: async ({ query }) => {
      await files.move(requiredQuery(query, 'source'), requiredQuery(query, 'destination'));
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/files/permissions',
    operation: 'setFilePermissions',
    handler: async ({ query }) => {
      await files.setPermissions(requiredQuery(query, 'path'), query.get('owner'), query.get('group'), query.get('mode'));
      return { status: 200 };
    },
  });

  router.add({
    method: 'GET',
    path: '/files/find',
    operation: 'findInFiles',
    handler: async ({ query }) => ({
      status: 200,
      json: await files.find(requiredQuery(query, 'path'), requiredQuery(query, 'pattern')),
    }),
  });

  router.add({
    method: 'GET',
    path: '/files/search',
    operation: 'searchFiles',
    handler: async ({ query }) => ({
      status: 200,
      json: { files: await files.search(requiredQuery(query, 'path'), requiredQuery(query, 'pattern')) },
    }),
  });

  router.add({
    method: 'POST',
    path: '/files/replace',
    operation: 'replaceInFiles',
    body: ReplaceRequest,
    handler: async ({ body }) => ({ status: 200, json: await files.replace(body.files, body.pattern, body.newValue) }),
  });
}
