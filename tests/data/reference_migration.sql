-- Add script_config to existing steps (example)
UPDATE workflow_step_entity 
SET config = config || '{"script_config": {"type": "llm_action", "action_id": 1}}'::jsonb
WHERE name = 'existing_step_name';
