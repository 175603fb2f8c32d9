// Starts @vercel/cosmosdb-server for the Cosmos store's tests, over plain HTTP
// on 127.0.0.1, on the port given (0: any free one), and prints the line
// "Ready to accept HTTP connections at HOST:PORT" the tests wait for.
//
// One fix is applied on top of the pinned 1.0.1: reading a document that does
// not exist crashes its read handler (a TypeError on the missing document,
// answered 500) where Cosmos DB answers 404 NotFound. The store relies on that
// 404, so the handler is wrapped before the router loads it.
"use strict";

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const original = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    try {
      return original(account, req, res, params);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return original(account, req, res, params);
};

const { createHttpServer } = require("@vercel/cosmosdb-server");

const port = Number.parseInt(process.argv[2] || "0", 10);
const server = createHttpServer({ keepAlive: true }).listen(port, "127.0.0.1", () => {
  const { address, port: bound } = server.address();
  console.log(`Ready to accept HTTP connections at ${address}:${bound}`);
});
