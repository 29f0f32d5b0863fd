import { z } from 'zod';
import { activityOutput } from './activity.ts';

export const dashboardStatsOutput = z.object({
  users: z.number().int(),
  activeUsers30d: z.number().int(),
  /** Monthly recurring revenue in cents. */
  mrrCents: z.number().int(),
  currency: z.string(),
  /** Share of the members at the start of the last 30 days who left since, 0–1. */
  churn30d: z.number(),
  membersLost30d: z.number().int(),
  recentActivity: z.array(activityOutput),
  computedAt: z.date(),
});
export type DashboardStatsOutput = z.infer<typeof dashboardStatsOutput>;
