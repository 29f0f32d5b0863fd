import { z } from 'zod';

export const activityOutput = z.object({
  id: z.number(),
  action: z.string(),
  userId: z.string().nullable(),
  userName: z.string().nullable(),
  subjectType: z.string().nullable(),
  subjectId: z.string().nullable(),
  createdAt: z.date(),
});
export type ActivityOutput = z.infer<typeof activityOutput>;

export const recentActivityInput = z.object({ limit: z.number().int().min(1).max(100).default(20) }).strict();
