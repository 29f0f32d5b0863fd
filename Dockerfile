# One image for every role (API, worker); the command picks the role.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Dev dependencies are needed: tsx runs the TypeScript sources and vite builds the web app.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
RUN npx vite build
EXPOSE 3000
CMD ["npx", "tsx", "--import", "./server/instrument.ts", "server/main.ts", "serve", "--migrate"]
