import { render } from 'preact';
import '../ui/base.css';
import './console.css';
import { Console } from './Console';

render(<Console />, document.getElementById('root') as HTMLElement);
